"""What runs only on a developer's machine: the X and Telegram API stand-ins and `make run`.

Production code never imports this package, so none of it ships to Lambda or EC2 services.
"""
