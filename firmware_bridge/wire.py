"""Wire bytes for the scanner protocols, each with the document it comes from.

Sources:
  [SSI]  Zebra "Simple Serial Interface Programmer's Guide" 72E-40451 (as summarised
         in shared/reference/SCANNERS.md, whose worked packets were recomputed).
  [AIM]  AIM ISO/IEC 15424 symbology identifiers, as tabulated in scanner
         programming references (e.g. Zebra/Symbol "Programming Reference", table B-3).
  [HON]  Honeywell serial host commands and host acknowledgement (scanner user guides).
"""

from __future__ import annotations

from typing import Final

# --- Raw serial line endings ---------------------------------------------------
CR: Final = b"\r"  # [HON] default suffix on most scanners
LF: Final = b"\n"
CRLF: Final = b"\r\n"
SUFFIXES: Final[dict[str, bytes]] = {"CR": CR, "LF": LF, "CRLF": CRLF}

# --- Honeywell host acknowledgement (raw mode) ----------------------------------
ESC: Final = 0x1B  # [HON] host-ack commands are ESC + one digit
HONEYWELL_GOOD_READ: Final = b"\x1b7"  # [HON] ESC 7: good-read beep
HONEYWELL_BAD_READ: Final = b"\x1b8"  # [HON] ESC 8: error tone
HONEYWELL_ESC_CODES: Final = frozenset("12378")  # [HON] ESC 1..3 green LED, ESC 7/8 tones
HONEYWELL_TRIGGER_ON: Final = b"\x16T\r"  # [HON] SYN T CR: start a read
HONEYWELL_TRIGGER_OFF: Final = b"\x16U\r"  # [HON] SYN U CR: stop a read

# --- GS1 -------------------------------------------------------------------------
GS: Final = "\x1d"  # [AIM] FNC1 in element strings after the first arrives as GS

# --- SSI packet layout [SSI] ------------------------------------------------------
SSI_HEADER_LEN: Final = 4  # Length, Opcode, Source, Status
SSI_CHECKSUM_LEN: Final = 2
SSI_MAX_LENGTH: Final = 0xFF  # Length is one byte and excludes the checksum

SOURCE_DECODER: Final = 0x00  # [SSI] message source: the scanner
SOURCE_HOST: Final = 0x04  # [SSI] message source: the host

STATUS_RETRANSMIT: Final = 0x01  # [SSI] status bit 0
STATUS_CONTINUATION: Final = 0x02  # [SSI] status bit 1: more packets follow
STATUS_PERMANENT: Final = 0x08  # [SSI] status bit 3: permanent parameter change

# Opcodes [SSI]
REQUEST_REVISION: Final = 0xA3
REPLY_REVISION: Final = 0xA4
AIM_OFF: Final = 0xC4
AIM_ON: Final = 0xC5
PARAM_SEND: Final = 0xC6
PARAM_REQUEST: Final = 0xC7
PARAM_DEFAULTS: Final = 0xC8
CMD_ACK: Final = 0xD0
CMD_NAK: Final = 0xD1
FLUSH_QUEUE: Final = 0xD2
START_DECODE: Final = 0xE4
STOP_DECODE: Final = 0xE5
BEEP: Final = 0xE6
LED_ON: Final = 0xE7
LED_OFF: Final = 0xE8
SCAN_ENABLE: Final = 0xE9
SCAN_DISABLE: Final = 0xEA
SLEEP: Final = 0xEB
DECODE_DATA: Final = 0xF3
EVENT: Final = 0xF6

OPCODE_NAMES: Final[dict[int, str]] = {
    REQUEST_REVISION: "REQUEST_REVISION",
    REPLY_REVISION: "REPLY_REVISION",
    AIM_OFF: "AIM_OFF",
    AIM_ON: "AIM_ON",
    PARAM_SEND: "PARAM_SEND",
    PARAM_REQUEST: "PARAM_REQUEST",
    PARAM_DEFAULTS: "PARAM_DEFAULTS",
    CMD_ACK: "CMD_ACK",
    CMD_NAK: "CMD_NAK",
    FLUSH_QUEUE: "FLUSH_QUEUE",
    START_DECODE: "START_DECODE",
    STOP_DECODE: "STOP_DECODE",
    BEEP: "BEEP",
    LED_ON: "LED_ON",
    LED_OFF: "LED_OFF",
    SCAN_ENABLE: "SCAN_ENABLE",
    SCAN_DISABLE: "SCAN_DISABLE",
    SLEEP: "SLEEP",
    DECODE_DATA: "DECODE_DATA",
    EVENT: "EVENT",
}

# CMD_NAK cause bytes [SSI]
NAK_RESEND: Final = 0x01  # bad checksum: send the packet again
NAK_BAD_CONTEXT: Final = 0x02  # unexpected or unknown message
NAK_DENIED: Final = 0x06  # a host directive the decoder denies
NAK_UNDESIRED: Final = 0x0A  # a message the receiver does not want (the host: an over-long read); not resent

# PARAM_SEND [SSI]
PARAM_BEEP_NONE: Final = 0xFF  # first data byte: no confirmation beep
PARAM_DECODE_DATA_PACKET_FORMAT: Final = 0xEE  # 1 = packeted DECODE_DATA, 0 = raw

# BEEP codes [SSI]: 0x00 one short high ... 0x05 one short low (range 0x00..0x1A)
BEEP_SHORT_HIGH: Final = 0x00
BEEP_SHORT_LOW: Final = 0x05
BEEP_MAX: Final = 0x1A

# LED bit masks [SSI]
LED_GREEN: Final = 0x01
LED_RED: Final = 0x02
LED_MASKS: Final[dict[str, int]] = {"green": LED_GREEN, "red": LED_RED}

# DECODE_DATA barcode type byte -> ShopGo symbology name [SSI]
SSI_BARCODE_TYPES: Final[dict[int, str]] = {
    0x08: "UPC-A",
    0x09: "UPC-E",
    0x0A: "EAN-8",
    0x0B: "EAN-13",
    0x0F: "GS1-128",
    0x30: "GS1 DataBar",
    0x31: "GS1 DataBar",  # DataBar Limited
    0x32: "GS1 DataBar",  # DataBar Expanded
    0x1C: "QR",
}
# The reverse, for the virtual scanner: one canonical type byte per symbology.
SSI_TYPE_FOR_SYMBOLOGY: Final[dict[str, int]] = {
    "UPC-A": 0x08,
    "UPC-E": 0x09,
    "EAN-8": 0x0A,
    "EAN-13": 0x0B,
    "GS1-128": 0x0F,
    "GS1 DataBar": 0x30,
    "QR": 0x1C,
}

# --- AIM symbology identifiers [AIM] ----------------------------------------------
# "]" + code character + modifier.  ]E0 carries EAN-13, UPC-A and UPC-E alike
# (always 13 digits), so the symbology is EAN-13 unless the data says otherwise.
AIM_FLAG: Final = "]"
AIM_SYMBOLOGIES: Final[dict[str, str]] = {
    "]E0": "EAN-13",
    "]E1": "EAN add-on",  # 2-digit add-on alone
    "]E2": "EAN add-on",  # 5-digit add-on alone
    "]E3": "EAN-13",  # EAN/UPC followed by its add-on digits
    "]E4": "EAN-8",
    "]C0": "Code 128",
    "]C1": "GS1-128",
    "]e0": "GS1 DataBar",
    "]d2": "GS1 DataMatrix",
    "]d1": "DataMatrix",
    "]Q1": "QR",
    "]Q3": "GS1 QR",
    "]I1": "ITF",
    "]I0": "ITF",
}
# For the virtual scanner: which identifier to put in front of a symbology.
AIM_FOR_SYMBOLOGY: Final[dict[str, str]] = {
    "EAN-13": "]E0",
    "UPC-A": "]E0",
    "UPC-E": "]E0",
    "EAN-8": "]E4",
    "Code 128": "]C0",
    "GS1-128": "]C1",
    "GS1 DataBar": "]e0",
    "GS1 DataMatrix": "]d2",
    "QR": "]Q1",
    "GS1 QR": "]Q3",
    "ITF": "]I1",
}
