"""A small protobuf (proto2) codec for the messages of ST's validation-on-target protocol 3.1 and 3.2.

Written from the field tables of the board I/O study (section 1.4), not from ST's generated code.
Messages are plain dicts; sub-messages are dicts; repeated fields are lists. Encoding follows what
nanopb on the board expects: every non-repeated field of a message is written (zeros included),
except the fields marked optional (``respMsg``'s payload oneof and the 3.2-only model-info times).
Repeated u32 fields are unpacked, floats are fixed32 little-endian, negative int32 are 10-byte
varints. Decoding skips unknown fields and raises :class:`CodecError` on malformed bytes, never
anything else.
"""

from __future__ import annotations

import struct
from typing import Any

#: ST's command, state and error codes (study 1.5).
CMD = {"SYNC": 0, "SYS_INFO": 1, "DISCONNECT": 2, "NETWORK_INFO": 10, "NETWORK_RUN": 11, "NETWORK_REPORT": 12,
       "MEMORY_READ": 20, "MEMORY_WRITE": 21, "MEMORY_CHECKSUM": 22, "SET_FILTER": 30, "TEST": 100}
STATE = {"IDLE": 0, "WAITING": 1, "PROCESSING": 2, "DONE": 3, "ERROR": 4}
ERROR = {"NONE": 0, "INVALID_SIZE": 1, "INVALID_FORMAT": 2, "INVALID_STATE": 3, "INVALID_PARAM": 4,
         "INVALID_SHAPE": 5, "INVALID_CMD": 6, "INVALID_UNINITIALIZED": 7, "MEM_OVERFLOW": 8, "GENERIC": 10}
#: ``syncMsg.capability`` bits (study 1.5): OBSERVER is the per-layer report.
CAPABILITY = {"OBSERVER": 1, "RELOC": 2, "READ_WRITE": 8, "RANDOM": 16, "FILTERING": 32, "USBC": 64, "SELF_TEST": 128}
RUN = {"IO_ONLY": 1, "PER_LAYER": 2, "PER_LAYER_WITH_DATA": 4, "PERF": 8, "DEBUG": 0x100, "CONST_VALUE": 0x200}
TENSOR_FLAG = {"INPUT": 1, "OUTPUT": 2, "INTERNAL": 4, "MEMPOOL": 8, "LAST": 0x100, "NO_DATA": 0x200,
               "IN_MEMPOOL": 0x400}
#: ai_buffer_format words (study 1.5); FLOAT also appears with bit 24 set.
FORMAT = {"U8": 0x00040440, "S8": 0x00840440, "S16": 0x00840840, "U16": 0x00040840, "S32": 0x00841040,
          "FLOAT": 0x00821040, "FLOAT_B24": 0x01821040}


class CodecError(ValueError):
    """Bytes that are not a valid message of the protocol."""


# field number -> (name, kind, repeated, optional); kind is a scalar type or a message name
_DESC = {1: ("name", "str", 0, 0), 2: ("format", "u32", 0, 0), 3: ("size", "u32", 0, 0), 4: ("n_dims", "u32", 0, 0),
         5: ("dims", "u32", 1, 0), 6: ("scale", "f32", 0, 0), 7: ("zeropoint", "i32", 0, 0),
         8: ("addr", "u32", 0, 0), 9: ("flags", "u32", 0, 0)}
SCHEMAS: dict[str, dict[int, tuple[str, str, int, int]]] = {
    "reqMsg": {1: ("reqid", "u32", 0, 0), 2: ("cmd", "u32", 0, 0), 3: ("param", "u32", 0, 0),
               4: ("name", "str", 0, 0), 5: ("opt", "u32", 0, 0)},
    "ackMsg": {1: ("param", "u32", 0, 0), 2: ("error", "u32", 0, 0)},
    "aiDataMsg": {1: ("type", "u32", 0, 0), 2: ("size", "u32", 0, 0), 3: ("addr", "u32", 0, 0),
                  4: ("datas", "bytes", 0, 0)},
    "syncMsg": {1: ("version", "u32", 0, 0), 4: ("capability", "u32", 0, 0), 5: ("rtid", "u32", 0, 0)},
    "sysinfoMsg31": {1: ("devid", "u32", 0, 0), 2: ("sclock", "u32", 0, 0), 3: ("hclock", "u32", 0, 0),
                     4: ("cache", "u32", 0, 0), 5: ("extra", "u32", 1, 0)},
    "sysinfoMsg32": {1: ("devid", "u32", 0, 0), 2: ("sclock", "u32", 0, 0), 3: ("hclock", "u32", 0, 0),
                     4: ("cache", "u32", 0, 0), 5: ("com_param", "u32", 0, 0), 6: ("extra", "u32", 1, 0)},
    "logMsg": {1: ("level", "u32", 0, 0), 2: ("str", "str", 0, 0)},
    "aiTensorDescMsg": _DESC,
    "aiTensorMsg": {1: ("desc", "aiTensorDescMsg", 0, 0), 2: ("data", "aiDataMsg", 0, 0)},
    "aiOperatorMsg": {1: ("name", "str", 0, 0), 2: ("type", "u32", 0, 0), 3: ("id", "u32", 0, 0),
                      4: ("duration", "f32", 0, 0), 5: ("counter_type", "u32", 0, 0), 6: ("counters", "u32", 1, 0),
                      7: ("stack_used", "i32", 0, 0), 8: ("heap_used", "i32", 0, 0)},
    "aiModelInfoMsg": {1: ("name", "str", 0, 0), 2: ("rtid", "u32", 0, 0), 3: ("signature", "str", 0, 0),
                       4: ("compile_datetime", "str", 0, 0), 5: ("runtime_version", "u32", 0, 0),
                       6: ("tool_version", "u32", 0, 0), 7: ("n_macc", "u64", 0, 0), 8: ("n_nodes", "u32", 0, 0),
                       10: ("n_inputs", "u32", 0, 0), 11: ("inputs", "aiTensorDescMsg", 1, 0),
                       12: ("n_outputs", "u32", 0, 0), 13: ("outputs", "aiTensorDescMsg", 1, 0),
                       14: ("n_activations", "u32", 0, 0), 15: ("activations", "aiTensorDescMsg", 1, 0),
                       16: ("n_params", "u32", 0, 0), 17: ("params", "aiTensorDescMsg", 1, 0),
                       20: ("runtime_desc", "str", 0, 0), 21: ("n_install_time", "f32", 0, 1),
                       22: ("n_init_time", "f32", 0, 1)},
}
_PAYLOADS = {10: ("sync", "syncMsg"), 11: ("sinfo", "sysinfo"), 12: ("ack", "ackMsg"), 13: ("log", "logMsg"),
             15: ("data", "aiDataMsg"), 16: ("op", "aiOperatorMsg"), 17: ("tensor", "aiTensorMsg"),
             22: ("minfo", "aiModelInfoMsg")}


def _resp_schema(version: int) -> dict[int, tuple[str, str, int, int]]:
    sinfo = "sysinfoMsg32" if version >= 0x302 else "sysinfoMsg31"
    out = {1: ("reqid", "u32", 0, 0), 2: ("state", "u32", 0, 0)}
    for number, (name, kind) in _PAYLOADS.items():
        out[number] = (name, sinfo if kind == "sysinfo" else kind, 0, 1)
    return out


def varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative values as 64-bit two's complement (10 bytes).

    Examples
    --------
    >>> varint(300).hex(), varint(-1).hex()
    ('ac02', 'ffffffffffffffffff01')
    """
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a varint at ``pos``; returns ``(value, new_pos)``."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise CodecError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise CodecError("varint longer than 10 bytes")


def _schema(kind: str, version: int) -> dict:
    return _resp_schema(version) if kind == "respMsg" else SCHEMAS[kind]


def encode(kind: str, msg: dict[str, Any], version: int = 0x302) -> bytes:
    """Serialize ``msg`` (a dict) as message ``kind`` (``reqMsg``, ``respMsg``, ``ackMsg``, ...).

    Examples
    --------
    >>> encode("reqMsg", {"reqid": 1, "cmd": CMD["SYNC"]}).hex(" ")
    '08 01 10 00 18 00 22 00 28 00'
    """
    out = bytearray()
    for number, (name, ftype, repeated, optional) in _schema(kind, version).items():
        if name not in msg:
            if repeated or optional:
                continue
            value = "" if ftype == "str" else b"" if ftype == "bytes" else 0.0 if ftype == "f32" else (
                {} if ftype in SCHEMAS else 0)
        else:
            value = msg[name]
        for v in (value if repeated else [value]):
            out += _field(number, ftype, v, version)
    return bytes(out)


def _field(number: int, ftype: str, value: Any, version: int) -> bytes:
    if ftype in ("u32", "u64", "i32"):
        return varint(number << 3) + varint(int(value))
    if ftype == "f32":
        return varint(number << 3 | 5) + struct.pack("<f", float(value))
    if ftype in ("str", "bytes"):
        raw = value.encode() if ftype == "str" else bytes(value)
        return varint(number << 3 | 2) + varint(len(raw)) + raw
    raw = encode(ftype, value, version)
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def decode(kind: str, data: bytes, version: int = 0x302) -> dict[str, Any]:
    """Parse bytes as message ``kind``; unknown fields are skipped, malformed bytes raise :class:`CodecError`.

    Examples
    --------
    >>> decode("respMsg", bytes.fromhex("08011000520808810620012884 02".replace(" ", "")), 0x301)["sync"]
    {'version': 769, 'capability': 1, 'rtid': 260}
    """
    data = bytes(data)
    schema = _schema(kind, version)
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CodecError("field number 0")
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 5:
            if pos + 4 > len(data):
                raise CodecError("truncated fixed32")
            value, pos = data[pos:pos + 4], pos + 4
        elif wire == 1:
            if pos + 8 > len(data):
                raise CodecError("truncated fixed64")
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = read_varint(data, pos)
            if pos + length > len(data):
                raise CodecError(f"length {length} runs past the end of the message")
            value, pos = data[pos:pos + length], pos + length
        else:
            raise CodecError(f"unsupported wire type {wire}")
        if number not in schema:
            continue
        name, ftype, repeated, _ = schema[number]
        item = _convert(ftype, wire, value, version)
        if repeated:
            out.setdefault(name, []).append(item)
        else:
            out[name] = item
    return out


def _convert(ftype: str, wire: int, value: Any, version: int) -> Any:
    expected = {"u32": 0, "u64": 0, "i32": 0, "f32": 5, "str": 2, "bytes": 2}.get(ftype, 2)
    if wire != expected:
        raise CodecError(f"wire type {wire} for a {ftype} field")
    if ftype == "u32":
        return value & 0xFFFFFFFF
    if ftype == "u64":
        return value & ((1 << 64) - 1)
    if ftype == "i32":
        value &= (1 << 64) - 1
        value = value - (1 << 64) if value >= 1 << 63 else value
        return ((value + (1 << 31)) % (1 << 32)) - (1 << 31)
    if ftype == "f32":
        return struct.unpack("<f", value)[0]
    if ftype == "str":
        try:
            return value.decode()
        except UnicodeDecodeError as exc:
            raise CodecError(f"string field is not UTF-8: {exc}") from exc
    if ftype == "bytes":
        return bytes(value)
    return decode(ftype, value, version)
