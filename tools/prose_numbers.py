"""Numbers typed into the prose of the notebooks: the book's rule is that each is computed
(MyST ``{glue}``) or cited. ``python tools/prose_numbers.py`` lists every number in a
markdown cell that is neither; ``tests/notebooks/test_prose_numbers.py`` fails on them.

What does not count as a typed-in number (the allow-list, each with its reason):

* math (``$...$``, ``$$...$$``): equation constants and symbols belong to the derivation;
* inline code and glue roles (```...```): code, or a value the build computed;
* a sentence that cites a source (``{cite}``, a link, or a "[stated]/[external]" tag):
  the number comes with where it comes from;
* block quotes (``> ...``): quotations from the posts and the paper;
* years 1900-2099 and dates (``2015``, ``2014-2015``): dates, not measurements;
* names and versions that contain digits (``H100``, ``ResNet-50``, ``8-bit``, ``fp32``,
  ``PCIe 3.0``, ``NVLink 4``, ``CUDA 12``): a name, not a quantity;
* pointers (``Table 6``, ``section 2.3``, ``exercise 3``, ``chapter 4``, ``step 2``,
  ordered-list numbers): a place in a document;
* ``ALLOWED``: phrases, one per line below, each with why it is not a claim.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Exact phrases allowed, with the reason. Keep this short: prefer glue or a citation.
ALLOWED: dict[str, str] = {}

_STRIP = [
    re.compile(r"\$\$.*?\$\$", re.S),          # display math
    re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$"),  # inline math
    re.compile(r"```.*?```", re.S),             # fenced code / directives
    re.compile(r"`[^`\n]*`"),                   # inline code, glue and cite roles' targets
    re.compile(r"\]\([^)]*\)"),                 # link targets
    re.compile(r"<[^>\n]+>"),                   # HTML tags and autolinks
    re.compile(r"\(\w+[-\w]*\)="),              # MyST labels
]
_CITED = re.compile(r"\{cite[:\w]*\}|\]\(https?://|\[(stated|inferred|external)[^\]]*\]|https?://")
_NAME = re.compile(
    r"\b(?:PCIe|Gen|NVLink|CUDA|Python|cuDNN|NCCL|Pascal|InfiniBand|version|v)\s*\d+(?:\.\d+)*"
    r"|\b\d+(?:\.\d+)?-(?:bit|bits|byte|way|D|d|layer|GPU|node|core|port|lane)s?\b"
    r"|[A-Za-z]+[-/]?\d+[A-Za-z\d]*|\d+(?!x\b)[A-Za-z]+\w*"
)
_POINTER = re.compile(
    r"\b(?:Table|Tables|Figure|Fig\.|Figures|section|Section|sections|chapter|Chapter|part|Part"
    r"|exercise|Exercise|exercises|step|Step|appendix|Appendix|equation|Eq\.|cell|question"
    r"|Question|line|lines|row|column|App\.|Tab\.)\s+\(?\d+(?:\.\d+)*"
    r"(?:\s*(?:,|and|or|to|–|-)\s*\d+(?:\.\d+)*)*"
)
_YEAR = re.compile(r"\b(?:19|20)\d\d(?:s)?\b(?:\s*[-–]\s*(?:19|20)?\d\d)?")
_DIGITS = r"\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?"
_NUMBER = r"(?<![\w.])" + _DIGITS
#: A quantity: a number with a unit, a ratio or a scale word. Bare counts ("4 GPUs",
#: "15 axons") and sizes chosen for an experiment are settings, not claims.
_UNIT = (
    r"%|×|x\b|\s*(?:[kMGTPE]?(?:FLOP|B|b|bit|Hz|W)(?:/s)?|[munµ]?s|ms|us|µs|ns|seconds?|minutes?"
    r"|hours?|days?|weeks?|months?|years?|KiB|MiB|GiB|TiB|GB|MB|TB|kB|PB|TFLOPS?|GFLOPS?|PFLOPS?|EFLOPS?"
    r"|FLOP/s|frames/s|images/s|examples/s|million|billion|trillion|thousand|M|G|T|k"
    r"|cores?|CPUs?|times|fold|dB|°|degrees?)\b"
)
_QUANTITY = re.compile(_NUMBER + r"(?:\s*(?:-|–|to)\s*" + _DIGITS + r")?(?=" + _UNIT + ")"
                       + r"|10\^\{?-?\d+")


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+(?=[A-Z(])|\n\s*\n|\n(?=\s*[-*]\s)|\n(?=#)", text)


def typed_numbers(markdown: str) -> list[tuple[str, str]]:
    """(number, sentence) for each number in ``markdown`` that is neither computed nor cited."""
    found = []
    lines = [ln for ln in markdown.splitlines() if not ln.lstrip().startswith(">")]
    text = "\n".join(lines)
    for pattern in _STRIP[:3]:
        text = pattern.sub(" ", text)
    for sentence in _sentences(text):
        if _CITED.search(sentence) or any(p in sentence for p in ALLOWED):
            continue
        bare = sentence
        for pattern in _STRIP[3:]:
            bare = pattern.sub(" ", bare)
        bare = re.sub(r"^\s*\d+\.\s", " ", bare, flags=re.M)  # ordered lists
        for pattern in (_NAME, _POINTER, _YEAR):
            bare = pattern.sub(" ", bare)
        for m in _QUANTITY.finditer(bare):
            found.append((m.group().strip(), " ".join(sentence.split())[:160]))
    return found


def notebook_offenders(path: Path) -> list[tuple[int, str, str]]:
    """(cell index, number, sentence) for every typed-in number in a notebook's markdown."""
    cells = json.loads(path.read_text())["cells"]
    return [(i, n, s) for i, c in enumerate(cells) if c["cell_type"] == "markdown"
            for n, s in typed_numbers("".join(c["source"]))]


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    total = 0
    for path in paths:
        for i, number, sentence in notebook_offenders(path):
            print(f"{path.name}[{i}]: {number!r} in: {sentence}")
            total += 1
    print(f"{total} typed-in numbers")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
