"""Apple's typedstream (NSArchiver) format, read as far as the text of an archived
NSAttributedString: what Messages keeps in `message.attributedBody`.

A stream is a header (streamer version 4, the signature `streamtyped`, the system
version), then groups of values, each group led by a type-encoding string (`@` an object,
`+` a byte string, `i` an int...). (The signature `typedstream` marks big-endian data,
which Messages never writes; it is refused.)

Integers take one byte when they fit in -110..127; otherwise a tag byte says what
follows: 0x81 an int16, 0x82 an int32, little-endian. Bytes 0x80-0x91 are
tags (0x84 new, 0x85 nil, 0x86 end of object); any other head byte where a string,
class or object belongs is a reference number, counted from 0x92 (-110): the n-th one
stored literally before it. Type encodings and class names are shared strings (stored
once, referenced after); classes and objects are numbered together in a second table,
each object before its class. An object is its class chain (name and version records,
subclass first, ending in nil or a reference to a class already stored) and then its
value groups up to the end-of-object tag.

NSAttributedString (and NSMutableAttributedString) archives its string first: an
NSString or NSMutableString object whose one value is a `+` byte string, the UTF-8 text.
"""

from __future__ import annotations

TAG_INT16, TAG_INT32 = -127, -126
TAG_NEW, TAG_NIL = -124, -123
FIRST_TAG, LAST_TAG = -128, -111
FIRST_REFERENCE = LAST_TAG + 1
SIGNATURE = b"streamtyped"
STREAMER_VERSION = 4


class TypedstreamError(ValueError):
    """The blob is not the typedstream of an attributed string (the message says how)."""


def attributed_string_text(blob: bytes) -> str:
    """The text of the NSAttributedString archived in `blob`; TypedstreamError if none.

    Only the string is read; a blob cut after it still gives its text. Bytes that are
    not UTF-8 become U+FFFD, as damaged text does everywhere else in the ingest.
    """
    reader = _Reader(blob)
    if b"NSAttributedString" not in reader.object_start():
        raise TypedstreamError("not an attributed string")
    string_class = reader.object_start()
    if string_class is None:  # a nil string
        return ""
    if b"NSString" not in string_class or reader.shared_string() != b"+":
        raise TypedstreamError("no string inside the attributed string")
    return (reader.byte_string() or b"").decode("utf-8", errors="replace")


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0
        if len(data) < 2 or data[0] != STREAMER_VERSION:
            raise TypedstreamError("not a typedstream")
        if self.take(data[1] + 2)[2:] != SIGNATURE:
            raise TypedstreamError("not a typedstream")
        self.integer(signed=False)  # the system version
        self.strings: list[bytes] = []  # shared strings, in the order stored
        self.objects: list[tuple[bytes, ...] | None] = []  # class chains; None for objects

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise TypedstreamError("truncated")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def head(self) -> int:
        return int.from_bytes(self.take(1), "little", signed=True)

    def integer(self, head: int | None = None, signed: bool = True) -> int:
        head = self.head() if head is None else head
        if head == TAG_INT16:
            return int.from_bytes(self.take(2), "little", signed=signed)
        if head == TAG_INT32:
            return int.from_bytes(self.take(4), "little", signed=signed)
        if FIRST_TAG <= head <= LAST_TAG:
            raise TypedstreamError("unexpected tag where a number belongs")
        return head if signed else head & 0xFF

    def byte_string(self, head: int | None = None) -> bytes | None:
        """An unshared string: its length, then its bytes (or nil)."""
        head = self.head() if head is None else head
        if head == TAG_NIL:
            return None
        return self.take(self.integer(head, signed=False))

    def shared_string(self) -> bytes:
        head = self.head()
        if head != TAG_NEW:
            return self.lookup(self.strings, head)
        string = self.byte_string()
        if string is None:
            raise TypedstreamError("nil shared string")
        self.strings.append(string)
        return string

    def lookup(self, table: list, head: int):
        index = self.integer(head) - FIRST_REFERENCE
        if not 0 <= index < len(table):
            raise TypedstreamError("reference to nothing stored")
        return table[index]

    def object_start(self) -> tuple[bytes, ...] | None:
        """Read up to the contents of the next object value: its class chain, or None for nil."""
        if self.shared_string() != b"@":
            raise TypedstreamError("expected an object")
        head = self.head()
        if head == TAG_NIL:
            return None
        if head != TAG_NEW:  # an object archived before: never the first ones of a string
            raise TypedstreamError("unexpected object reference")
        self.objects.append(None)  # the object is numbered before its class
        return self.class_chain()

    def class_chain(self) -> tuple[bytes, ...]:
        """The class names of an object, its own class first, down to the root class."""
        names, slots = [], []
        head = self.head()
        while head == TAG_NEW:
            names.append(self.shared_string())
            self.integer()  # the class version
            slots.append(len(self.objects))
            self.objects.append(())  # filled in below, once the superclasses are known
            head = self.head()
        if head == TAG_NIL:
            tail = ()
        else:
            tail = self.lookup(self.objects, head)
            if not tail:
                raise TypedstreamError("reference to an object where a class belongs")
        chain = (*names, *tail)
        for depth, slot in enumerate(slots):
            self.objects[slot] = chain[depth:]
        return chain
