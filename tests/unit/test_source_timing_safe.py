"""Secrets are compared only with hmac.compare_digest: no `==`/`!=` on secret-looking values."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingress", "shared", "workers", "cli")
SECRET_WORDS = re.compile(r"secret|token|signature|digest|hash|password|hmac", re.IGNORECASE)

# (file, source of the comparison) → why it is not a secret comparison.
ALLOWED: dict[tuple[str, str], str] = {
    ("shared/signatures.py", "scheme == 'hmac-sha256'"): "the scheme's public name",
    ("shared/signatures.py", "scheme == 'hmac-sha256-base64'"): "the scheme's public name",
    ("shared/tokens.py", "len(raw) != _TOKEN_LEN"): "the token format's public length",
    ("shared/tokens.py", "len(digest) != _DIGEST_BYTES"): "a stored hash's length, not its value",
    ("cli/setup_cmds.py", "secret == '-'"): "the '-' option value meaning 'read from stdin'",
}


def source_files() -> Iterator[Path]:
    """Every Python module of the service."""
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def names_in(node: ast.AST) -> Iterator[str]:
    """Identifiers, attribute names and string keys an expression mentions."""
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            yield child.id
        elif isinstance(child, ast.Attribute):
            yield child.attr
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def secret_comparisons(path: Path) -> Iterator[str]:
    """`==`/`!=` comparisons in `path` whose operands name something secret-looking."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(SECRET_WORDS.search(name) for o in operands for name in names_in(o)):
            yield ast.unparse(node)


def test_no_secret_is_compared_with_eq() -> None:
    found = [
        (str(path.relative_to(ROOT)), text)
        for path in source_files()
        for text in secret_comparisons(path)
    ]
    unexplained = [f"{file}: {text}" for file, text in found if (file, text) not in ALLOWED]
    assert unexplained == [], "use hmac.compare_digest for secrets:\n" + "\n".join(unexplained)


def test_the_check_finds_a_plain_comparison(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "def check(given, expected_signature):\n"
        "    return given == expected_signature\n"
        "def fine(a, b):\n"
        "    return a == b\n"
    )
    assert list(secret_comparisons(module)) == ["given == expected_signature"]


def test_the_allow_list_names_only_comparisons_that_exist() -> None:
    found = {(str(p.relative_to(ROOT)), t) for p in source_files() for t in secret_comparisons(p)}
    assert set(ALLOWED) <= found
