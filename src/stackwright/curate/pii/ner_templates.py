"""Templates of the synthetic NER cases: each appends text and values to a :class:`Doc` (a :class:`Val`
becomes an entity at its exact offset) and returns the language. Most are patterns with slots (``{name}``,
``{email2}``, ``{key:github}``, ``{pw!}`` quoted for the format); settings come from one engine."""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from stackwright.curate.pii.ner_values import Bare, Doc, Expr, Gen, Item, Val

Template = Callable[["Gen", Doc], str]
TEMPLATES: dict[str, Template] = {}
WEIGHTS: dict[str, float] = {}
NEGATIVE_ONLY: set[str] = set()


def template(name: str, weight: float = 1.0, negative_only: bool = False) -> Callable[[Template], Template]:
    def deco(fn: Template) -> Template:
        TEMPLATES[name], WEIGHTS[name] = fn, weight
        if negative_only:
            NEGATIVE_ONLY.add(name)
        return fn

    return deco


# -- surroundings ------------------------------------------------------------------------------------
_HASH = ("Python", "Shell", "Ruby", "Perl", "R", "YAML", "TOML", "Dockerfile", "Makefile", "PowerShell",
         "Nginx", "Dotenv", "Elixir", "CMake", "HCL", "Java Properties", "SSH Config", "Git Config", "INI")
_SLASH = ("C", "C++", "Java", "JavaScript", "TypeScript", "Go", "Rust", "C#", "Swift", "Kotlin", "Scala",
          "PHP", "Dart", "Groovy", "Objective-C")
COMMENT = {**dict.fromkeys(_HASH, "#"), **dict.fromkeys(_SLASH, "//"), "SQL": "--", "Lua": "--",
           "Haskell": "--", "Emacs Lisp": ";;", "Erlang": "%", "TeX": "%", "MATLAB": "%",
           "Visual Basic .NET": "'", "Fortran": "!"}
_BLOCK = {**dict.fromkeys(_SLASH, ("/*", " *", " */")), "HTML": ("<!--", " ", "-->"),
          "XML": ("<!--", " ", "-->"), "Python": ('"""', "", '"""'), "Haskell": ("{-", "", "-}")}
IDENTS = ("config", "client", "session", "cache", "handler", "buffer", "items", "result", "request",
          "response", "retry", "timeout", "parser", "loader", "worker", "queue", "node", "tree", "index",
          "state", "options", "context", "router", "store", "model", "view", "data", "stream", "reader")
PHRASES = ("TODO: clean this up", "Load the settings from the environment", "Connection settings",
           "See the documentation for details", "Do not edit: generated file", "FIXME: handle timeouts",
           "Local overrides", "Default values for development", "Helper for the tests", "Keep sorted",
           "Retry with exponential backoff", "Used by the CI pipeline", "Only used in debug builds",
           "This is a workaround, see the issue tracker", "Production values are injected at deploy time",
           "Sample data", "Fallback for older versions")
_CODE = {"py": ("import {a}", "from {a} import {b}", "{a}_{b} = {n}", "def {a}_{b}({a}):", "{a} = {b}.{a}()",
                "    return {a}.{b}({n})", "logger = logging.getLogger(__name__)"),
         "c": ("#include <{a}.h>", "static int {a}_{b} = {n};", "    return {a};", "}}", "    {a}({n});"),
         "java": ("import {a}.{b}.*;", "    private int {a} = {n};", "}}", "    @Override", "    return 0;"),
         "js": ("import {{ {a} }} from './{b}';", "const {a} = require('{b}');", "export default {a};"),
         "go": ('import "{a}/{b}"', "func {C}() error {{", "\treturn nil", "}}", "\t{a} := {b}.New()"),
         "rb": ("require '{a}'", "class {C}", "  def {a}", "  end", "{a} = {b}.new({n})"),
         "sh": ("set -euo pipefail", 'echo "{a} {b}"', "{A}={n}", 'cd "$(dirname "$0")"', "sleep {n}")}
_FAMILY = {"Python": "py", "C": "c", "C++": "c", "Rust": "c", "Objective-C": "c", "Java": "java",
           "C#": "java", "Kotlin": "java", "Scala": "java", "Swift": "java", "Groovy": "java", "Dart": "java",
           "PHP": "java", "JavaScript": "js", "TypeScript": "js", "Go": "go", "Ruby": "rb", "Perl": "rb",
           "Shell": "sh", "PowerShell": "sh", "Dockerfile": "sh"}


def filler(g: Gen, lang: str) -> str:
    """A line without entities: a comment, or code of ``lang``'s family."""
    family = _FAMILY.get(lang)
    if family is None or (lang in COMMENT and g.chance(0.35)):
        return f"{COMMENT[lang]} {g.pick(PHRASES)}" if lang in COMMENT else ""
    a, b = g.pick(IDENTS), g.pick(IDENTS)
    return g.pick(_CODE[family]).format(a=a, b=b, A=a.upper(), C=a.title() + b.title(), n=g.n(0, 500))


def pad(g: Gen, d: Doc, lang: str, low: int = 0, high: int = 4) -> None:
    for _ in range(g.n(low, high)):
        d.line("" if g.chance(0.3) else filler(g, lang))


def comment_block(g: Gen, d: Doc, lang: str, lines: Sequence[str]) -> None:
    """Patterns as a comment in ``lang``: a block comment where it has one, else line comments."""
    block = lang in _BLOCK and (lang not in COMMENT or g.chance(0.5))
    first, mid, last = _BLOCK[lang] if block else ("", COMMENT.get(lang, "#"), "")
    d.add(first, "\n" if first else "")
    for text in lines:
        d.add(mid, " " if text and mid else "")
        fill(g, d, text, "Text")
        d.add("\n")
    d.add(last, "\n" if last else "")


# -- values in formats --------------------------------------------------------------------------------
CODE_FMTS = frozenset(("py", "js", "ts", "go", "rb", "php", "cs", "java", "sh", "kt"))
FMT_LANG = {"env": "Dotenv", "ini": "INI", "yaml": "YAML", "toml": "TOML", "json": "JSON", "xml": "XML",
            "props": "Java Properties", "hcl": "HCL", "py": "Python", "js": "JavaScript", "go": "Go",
            "ts": "TypeScript", "rb": "Ruby", "php": "PHP", "cs": "C#", "java": "Java", "sh": "Shell",
            "kt": "Kotlin"}
_ALNUM = string.ascii_letters + string.digits
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/+=:@")
_KEY_STYLE = {"env": "U", "sh": "U", "ini": "s", "toml": "s", "hcl": "s", "yaml": "sck", "json": "cs",
              "props": "d", "xml": "ck", "py": "Us", "js": "cU", "ts": "c", "go": "cP", "rb": "s",
              "php": "sU", "cs": "P", "java": "cU", "kt": "c"}
_ASSIGN = {"env": "@k=@v", "sh": "export @k=@v", "yaml": "@i@k: @v", "toml": "@i@k = @v",
           "hcl": "@i@k = @v", "json": '@i"@k": @v@c', "xml": "@i<@k>@v</@k>",
           "py": "@i@k = @v", "js": "@iconst @k = @v;", "ts": "@iconst @k: string = @v;", "go": "@i@k := @v",
           "rb": "@i@k = @v", "php": "@i$@k = @v;", "cs": "@iprivate const string @k = @v;",
           "java": "@iprivate static final String @k = @v;", "kt": "@ival @k = @v"}
_ASSIGN_PARTS = {fmt: re.split(r"(@[ikvc])", line) for fmt, line in _ASSIGN.items()}


def _flat(item: Item) -> str:
    if isinstance(item, Val):
        return item.value
    return item if isinstance(item, str) else "".join(map(_flat, item))


def lit(g: Gen, fmt: str, item: Item) -> Item:
    """``item`` as a literal of ``fmt`` (quoted where the format quotes strings)."""
    if isinstance(item, Bare) or (isinstance(item, Expr) and fmt in CODE_FMTS):
        return item
    if fmt in ("json", "toml", "hcl", "go", "cs", "java", "kt"):
        q = '"'
    elif fmt in ("py", "js", "ts", "rb", "php"):
        q = g.pick(("'", '"'))
    elif fmt in ("props", "ini", "xml", "Text"):
        q = ""
    else:
        flat = _flat(item)
        plain = all(c in _PLAIN for c in flat) and flat[:1] not in "@-{"
        q = g.pick(("", "", '"', "'")) if plain else '"'
    return (q, item, q)


def keyname(g: Gen, fmt: str, words: Sequence[str]) -> str:
    s = g.pick(_KEY_STYLE[fmt])
    if s in "cP":
        camel = "".join(w.title() for w in words)
        return camel if s == "P" else camel[0].lower() + camel[1:]
    return {"U": "_".join(words).upper(), "s": "_".join(words), "k": "-".join(words), "d": ".".join(words)}[s]


def assign(g: Gen, d: Doc, fmt: str, key: str, item: Item, ind: str = "", comma: str = "") -> None:
    """One ``key = value`` line of ``fmt``."""
    v = lit(g, fmt, item)
    if fmt in ("ini", "props"):
        d.line(key, g.pick((" = ", "=", ": " if fmt == "props" else "=")), v)
        return
    values = {"@i": ind, "@k": key, "@v": v, "@c": comma}
    parts = _ASSIGN_PARTS[fmt]
    if fmt == "sh" and g.chance(0.4):
        parts = parts[1:]
    d.line(*(values.get(p, p) for p in parts))


_PORTS = {"postgres": 5432, "mysql": 3306, "mariadb": 3306, "mongodb": 27017, "redis": 6379, "amqp": 5672}
_SCHEMES = ("postgres", "postgresql", "mysql", "mongodb", "mongodb+srv", "redis", "rediss", "amqp", "amqps",
            "mariadb", "postgresql+psycopg", "mysql+pymysql", "smtp", "ftp")


def uri(g: Gen, scheme: str | None = None) -> tuple[Item, ...]:
    """A connection URI with a login, a password and an address or host name."""
    scheme = scheme or g.pick(_SCHEMES)
    host: Item = g.ip(fmt="yaml") if g.chance(0.5) else g.host()
    if isinstance(host, Val) and ":" in host.value:
        host = ("[", host, "]")
    pw = g.password("yaml", "url")
    cred = (":", pw, "@") if scheme.startswith("redis") and g.chance(0.6) else (g.login(), ":", pw, "@")
    port = next((v for k, v in _PORTS.items() if scheme.startswith(k)), 0)
    tail = "" if "srv" in scheme or not port or g.chance(0.2) else f":{port}"
    w = g.word()
    path = g.pick(("", f"/{w}", f"/{w}_db", "/0", f"/{w}?sslmode=require", "/?authSource=admin"))
    return (f"{scheme}://", *cred, host, tail, path)


_PEM_LABELS = {"RSA": "RSA PRIVATE KEY", "PKCS8": "PRIVATE KEY", "EC": "EC PRIVATE KEY",
               "OPENSSH": "OPENSSH PRIVATE KEY"}


def _pem(g: Gen, arg: str, public: bool = False) -> tuple[Item, ...]:
    """A PEM private key whose body (not armour, not RFC 1421 headers) is a KEY (public in negatives)."""
    kind = g.pick(("RSA", "RSA", "PKCS8", "EC", "OPENSSH"))
    nl = {"json": "\\n", "concat": '\\n" +\n  "'}.get(arg, "\n")
    if g.neg or public:
        armour = g.pick(("PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY"))
        body = g.pem_body("RSA", public=True).replace("\n", nl)
        return (f"-----BEGIN {armour}-----{nl}", body, f"{nl}-----END {armour}-----")
    head = ""
    if kind == "RSA" and g.chance(0.15):
        head = f"Proc-Type: 4,ENCRYPTED{nl}DEK-Info: AES-128-CBC,{g.hexs(32).upper()}{nl}{nl}"
    body = g.pem_body(kind).replace("\n", nl)
    label = _PEM_LABELS[kind]
    return (f"-----BEGIN {label}-----{nl}", head, Val("KEY", body), f"{nl}-----END {label}-----")


def _b64(g: Gen, item: Item, neg: str) -> Item:
    """The base64 of a value (a Kubernetes Secret's ``data``), labelled like the value."""
    if isinstance(item, Val):
        return Val(item.label, g.b64(item.value.encode()), dummy=item.dummy)
    return Expr(neg)


def _msgid(g: Gen) -> str:
    domain = g.fk().domain_name()
    return g.pick((f"{g.uuid()}@{domain}", f"{g.n(10**9, 10**10)}.{g.hexs(8)}@{domain}",
                   f"CA+{g.hexs(20)}@mail.gmail.com"))


Slot = Callable[["Gen", Any, str, str], Item]
SLOTS: dict[str, Slot] = {
    "name": lambda g, p, a, f: g.name(p), "first": lambda g, p, a, f: g.name_parts(p)[0],
    "last": lambda g, p, a, f: g.name_parts(p)[1], "handle": lambda g, p, a, f: g.handle(p),
    "login": lambda g, p, a, f: g.login(p, f), "email": lambda g, p, a, f: g.email(p, f),
    "pw": lambda g, p, a, f: g.password(f, a or {"xml": "xml", "sh": "shell", "env": "shell"}.get(f, "any")),
    "pwtok": lambda g, p, a, f: g.password(f) if g.neg else Val("PASSWORD", g.key_value("github").value),
    "key": lambda g, p, a, f: g.key(a or "any", f),
    "hmac": lambda g, p, a, f: g.key(g.pick(("hex", "b64", "generic")), f),
    "whsec": lambda g, p, a, f: g.key("generic", f) if g.neg else Val("KEY", "whsec_" + g.chars(_ALNUM, 32)),
    "ip": lambda g, p, a, f: g.ip(a or None, f),
    "iphost": lambda g, p, a, f: g.ip(None, f) if g.chance(0.6) else g.host(),
    "cidr": lambda g, p, a, f: g.cidr(), "basic": lambda g, p, a, f: g.basic(),
    "uri": lambda g, p, a, f: uri(g, a or None), "pem": lambda g, p, a, f: _pem(g, a, a == "pub"),
    "b64pw": lambda g, p, a, f: _b64(g, g.password(f), "{{ .Values.password | b64enc }}"),
    "b64key": lambda g, p, a, f: _b64(g, g.key("generic", f), "{{ .Values.apiKey | b64enc }}"),
    "b64user": lambda g, p, a, f: g.b64(_flat(g.login(None, f)).encode()),
    "home": lambda g, p, a, f: (g.pick(("/home/", "/Users/")), g.login(), g.pick(("/data", "/.local"))),
    "pk": lambda g, p, a, f: "pk_live_" + g.hexs(24), "host": lambda g, p, a, f: g.host(),
    "word": lambda g, p, a, f: g.word(), "org": lambda g, p, a, f: g.org(),
    "ident": lambda g, p, a, f: g.pick(IDENTS),
    "cls": lambda g, p, a, f: g.pick(IDENTS).title() + g.pick(IDENTS).title(),
    "phrase": lambda g, p, a, f: g.pick(PHRASES), "company": lambda g, p, a, f: g.company(),
    "repo": lambda g, p, a, f: g.repo(), "n": lambda g, p, a, f: Bare(g.n(1, 999)),
    "int": lambda g, p, a, f: Bare(g.n(1, 3600)), "year": lambda g, p, a, f: str(g.year()),
    "ver": lambda g, p, a, f: f"{g.n(0, 4)}.{g.n(0, 20)}.{g.n(0, 9)}",
    "date": lambda g, p, a, f: f"{g.year()}-{g.n(1, 12):02d}-{g.n(1, 28):02d}",
    "time": lambda g, p, a, f: f"{g.n(0, 23):02d}:{g.n(0, 59):02d}:{g.n(0, 59):02d}",
    "port": lambda g, p, a, f: Bare(g.pick((22, 80, 443, 2222, 5432, 8080, 8443, 3306, 6379))),
    "smtpport": lambda g, p, a, f: Bare(g.pick((25, 465, 587, 2525))),
    "bool": lambda g, p, a, f: Bare(g.pick(("True", "False") if f == "py" else ("true", "false"))),
    "level": lambda g, p, a, f: g.pick(("info", "debug", "WARNING", "error")),
    "region": lambda g, p, a, f: g.pick(("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2")),
    "url": lambda g, p, a, f: f"https://{g.pick(('api', 'auth', 'hooks'))}.{g.fk().domain_name()}/v1",
    "dn": lambda g, p, a, f: f"cn={g.pick(('admin', 'readonly', 'ldap-bind'))},dc={g.word()},dc=org",
    "uuid": lambda g, p, a, f: g.uuid(), "hex": lambda g, p, a, f: g.hexs(int(a or 64)),
    "role": lambda g, p, a, f: g.pick(("root", "admin", "postgres", "www-data", "sa", "api", "test")),
    "netmask": lambda g, p, a, f: g.pick(("255.255.255.0", "255.255.0.0", "255.0.0.0", "255.255.255.128",
                                          "255.255.252.0", "255.255.255.240", "ffff:ffff:ffff:ffff::")),
    "badip": lambda g, p, a, f: g.pick((f"{g.n(256, 999)}.{g.n(0, 255)}.1.{g.n(0, 255)}", "999.999.999.999",
                                        "256.256.256.256", f"1.2.3.0{g.n(1, 9)}", f"8.8.8.8.{g.n(1, 9)}")),
    "version": lambda g, p, a, f: f"{g.n(0, 20)}.{g.n(0, 30)}.{g.n(0, 40)}.{g.n(0, 9999)}",
    "msgid": lambda g, p, a, f: _msgid(g),
    "integrity": lambda g, p, a, f: "sha512-" + g.b64(g.rng.randbytes(64)),
    "h1": lambda g, p, a, f: g.b64(g.rng.randbytes(32)),
    "product": lambda g, p, a, f: g.pick(("PostgreSQL", "Redis", "Jenkins", "Grafana", "Kafka", "Karma")),
}
_PERSON_SLOTS = frozenset(("name", "first", "last", "handle", "login", "email"))
_NAMES = "|".join(sorted(SLOTS, key=len, reverse=True))
_SLOT = re.compile(r"\{(" + _NAMES + r")(\d?)(?::([a-z0-9_+]+))?(!?)\}")


@functools.lru_cache(maxsize=4096)
def _parse(pattern: str) -> tuple[str | tuple[str, str, str, bool, str], ...]:
    parts: list[str | tuple[str, str, str, bool, str]] = []
    pos = 0
    for m in _SLOT.finditer(pattern):
        parts += [pattern[pos:m.start()], (m[1], m[0], m[3] or "", bool(m[4]), m[2])]
        pos = m.end()
    return tuple(p for p in [*parts, pattern[pos:]] if p)


def fill(g: Gen, d: Doc, pattern: str, fmt: str = "yaml") -> None:
    """Append ``pattern`` with its slots filled: the same slot gives the same value, a digit another
    person (``{name2}``) or value; ``!`` quotes the value for ``fmt``."""
    memo: dict[str, Item] = {}
    people: dict[str, Any] = {}
    for part in _parse(pattern):
        if isinstance(part, str):
            d.add(part)
            continue
        kind, key, arg, quote, who = part
        if key not in memo:
            p = (people.get(who) or people.setdefault(who, g.person())) if kind in _PERSON_SLOTS else None
            memo[key] = SLOTS[kind](g, p, arg, fmt)
        d.add(lit(g, fmt, memo[key]) if quote else memo[key])


Choice: TypeAlias = str | tuple[str, ...]


def spec(name: str, weight: float, lang: Choice, head: Choice, bodies: tuple[str, ...],
         k: tuple[int, int] = (2, 6), tail: Choice = "", fmt: str = "yaml", pad_lines: int = 0,
         negative_only: bool = False) -> None:
    """A template of a head, ``k`` bodies drawn from ``bodies`` (new people each) and a tail."""

    def build(g: Gen, d: Doc) -> str:
        language = g.pick(lang) if isinstance(lang, tuple) else lang
        for part in (head, None, tail):
            if part is None:
                for _ in range(g.n(*k)):
                    fill(g, d, g.pick(bodies), fmt)
                    d.add("\n\n" if g.chance(0.12) else "\n")
            elif part:
                fill(g, d, g.pick(part) if isinstance(part, tuple) else part, fmt)
                d.add("\n")
        pad(g, d, language, 0, pad_lines)
        return language

    template(name, weight, negative_only)(build)


# -- settings files and settings in code --------------------------------------------------------------
# section: (aliases, fields as name=slot, the words of a name joined by "_")
_SECTIONS = {
    "database": ("database db postgres mysql pg",
                 "host=iphost port=port name=word user=login username=login password=pw pass=pw url=uri"),
    "mail": ("smtp mail email", "host=host port=smtpport user=email password=pw from=email use_tls=bool"),
    "api": ("api service payment maps", "key=key secret=key token=key base_url=url timeout=int"),
    "aws": ("aws", "access_key_id=key:aws_id secret_access_key=key:aws_secret region=region bucket=word"),
    "auth": ("auth jwt session", "secret=hmac signing_key=hmac ttl=int issuer=url"),
    "redis": ("redis cache", "url=uri:redis password=pw db=int"),
    "github": ("github gh", "token=key:github owner=handle user=handle"),
    "slack": ("slack", "bot_token=key:slack channel=word"),
    "stripe": ("stripe", "secret_key=key:stripe publishable_key=pk webhook_secret=whsec"),
    "app": ("app server site", "debug=bool log_level=level secret_key=key:django admin_email=email "
            "data_dir=home bind=ip workers=int maintainer=name allowed_ip=ip trusted_proxy=ip"),
    "ldap": ("ldap", "server=ip bind_dn=dn bind_password=pw"),
}
_OPEN = {"xml": '<?xml version="1.0" encoding="UTF-8"?>\n<configuration>', "json": "{", "php": "<?php",
         "cs": "public static class @Settings {", "java": "public final class @Settings {"}
_NEST = {"ini": "[@]", "toml": "[@]", "yaml": "@:", "json": '"@": {', "xml": "<@>", "hcl": "@ {"}
_UNNEST = {"json": "}", "xml": "</@>", "hcl": "}"}


def config(g: Gen, d: Doc, fmt: str) -> str:
    """A settings file or module in ``fmt``: sections of credential and benign fields in random order."""
    lang = FMT_LANG[fmt]
    names = g.rng.sample(list(_SECTIONS), g.n(1, 4))
    ind = g.ind() if fmt in _OPEN and fmt != "php" else ""
    if fmt in _OPEN:
        d.line(_OPEN[fmt].replace("@", g.pick(IDENTS).title()))
    else:
        pad(g, d, lang, 0, 2)
    for si, name in enumerate(names):
        aliases, spec_ = _SECTIONS[name]
        fields = [(tuple(k.split("_")), v) for k, _, v in (f.partition("=") for f in spec_.split())]
        alias, more = g.pick(aliases.split()), si < len(names) - 1
        chosen = g.rng.sample(fields, g.n(2, len(fields)))
        nested = fmt in _NEST and g.chance(0.75)
        inner = ind + g.ind() if nested and (fmt in _UNNEST or fmt == "yaml") else ind
        if nested:
            d.line(ind, _NEST[fmt].replace("@", alias))
        elif lang in COMMENT and g.chance(0.5):
            d.line(ind, COMMENT[lang], " ", alias.title(), g.pick(("", " settings", " configuration")))
        for fi, (words, kind) in enumerate(chosen):
            slot, _, arg = kind.partition(":")
            key = keyname(g, fmt, words if nested else (alias, *words))
            last = fi == len(chosen) - 1 and (nested or not more)
            assign(g, d, fmt, key, SLOTS[slot](g, None, arg, fmt), inner, "" if last else ",")
        if nested and fmt in _UNNEST:
            d.line(ind, _UNNEST[fmt].replace("@", alias), "," if fmt == "json" and more else "")
        if more and fmt not in ("json", "xml") and g.chance(0.7):
            d.line()
    d.line({"json": "}", "xml": "</configuration>", "cs": "}", "java": "}"}.get(fmt, ""))
    return lang


_CONFIGS = {"dotenv": ("env", 2.0), "ini_config": ("ini", 1.0), "yaml_config": ("yaml", 1.5),
            "toml_config": ("toml", 0.7), "json_config": ("json", 1.2), "xml_config": ("xml", 0.6),
            "java_properties": ("props", 0.8), "terraform": ("hcl", 0.6), "go_config": ("go", 0.6),
            "python_settings": ("py", 1.5), "js_config": ("js", 1.0), "ts_config": ("ts", 0.5),
            "ruby_config": ("rb", 0.6), "php_config": ("php", 0.8), "csharp_config": ("cs", 0.6),
            "java_config": ("java", 0.7), "shell_exports": ("sh", 1.0), "kotlin_config": ("kt", 0.3)}
for _name, (_fmt, _w) in _CONFIGS.items():
    template(_name, _w)(lambda g, d, _f=_fmt: config(g, d, _f))


# -- authorship ---------------------------------------------------------------------------------------
LICENSES = (("Permission is hereby granted, free of charge, to any person obtaining a copy",
             'of this software and associated documentation files (the "Software"), to deal'),
            ('Licensed under the Apache License, Version 2.0 (the "License");',
             "you may not use this file except in compliance with the License."),
            ("Use of this source code is governed by a BSD-style license that can be",
             "found in the LICENSE file."), ("SPDX-License-Identifier: MIT",), ("All rights reserved.",))
_HEADER_LANGS = ("Python", "C", "C++", "Java", "JavaScript", "TypeScript", "Go", "Rust", "C#", "PHP", "Ruby",
                 "Shell", "Swift", "Kotlin", "SQL", "Lua", "Haskell", "Emacs Lisp", "Erlang", "HTML",
                 "XML", "Perl", "R", "Scala", "Visual Basic .NET", "Fortran", "MATLAB", "TeX", "Dart")
_FORMS = ("Copyright (c) # ", "Copyright (C) # ", "Copyright # ", "(c) # ", "Copyright © # by ", "Author: ",
          "SPDX-FileCopyrightText: # ", "Maintainer: ", "Written by ", "@copyright # ", "Copyright # - ")
_CREDITS = ("{name} <{email}>", "{name}", "{name}", "{name} (@{handle})", "{company}", "{company}",
            "{name} - https://github.com/{handle}", "{name} <{email}>, {name2} <{email2}>", "{name} et al.")


@template("copyright_header", 2.5)
def _copyright(g: Gen, d: Doc) -> str:
    lang = g.pick(_HEADER_LANGS)
    y = g.year()
    years = g.pick((str(y), f"{y}-{min(2025, y + g.n(1, 9))}", f"{y}, {y + 1}", f"{y}-present"))
    lines = [g.pick(_FORMS).replace("#", years) + g.pick(_CREDITS) for _ in range(g.n(1, 3))]
    if g.chance(0.4):
        lines.append(f"Copyright {years} The {g.pick(('', 'Go ', 'Project '))}Authors. All rights reserved")
    comment_block(g, d, lang, [*lines, "", *g.pick(LICENSES)])
    pad(g, d, lang, 1, 8)
    return lang


# -- patterns -----------------------------------------------------------------------------------------
spec("package_json", 0.6, "JSON", '{\n  "name": "{repo}",\n  "version": "{ver}",', ('  "license": "MIT",',
     '  "author": "{name} <{email}> (https://github.com/{handle})",', '  "repository": "{handle}/{repo}",',
     '  "contributors": ["{name} <{email}>", "{name2}"],', '  "integrity": "{integrity}",'), (1, 3),
     '  "private": true\n}', fmt="json")
spec("python_dunder", 0.8, "Python", ('"""{phrase}."""\n', "# -*- coding: utf-8 -*-"),
     ("__author__ = {name!}", "__email__ = {email!}", "__maintainer__ = {name!}", "__version__ = '{ver}'",
      "__copyright__ = 'Copyright {year} {name}'", "__credits__ = [{name!}, {name2!}]"), (2, 5), fmt="py",
     pad_lines=6)
spec("javadoc_author", 1.5, ("Java", "PHP", "JavaScript", "Kotlin", "C#", "Groovy"), "/**\n * {phrase}.\n *",
     (" * @author {name}", " * @author {name} <{email}>", " * @since {ver}", " * @see {cls}",
      " * @author {company}", ' * @author <a href="mailto:{email}">{name}</a>',
      " * @copyright {year} {name}"), (1, 4), " */\nclass {cls} {\n", pad_lines=6)
spec("authors_file", 1.5, ("Text", "Markdown", "reStructuredText"), ("AUTHORS\n=======\n", "# Contributors\n",
      "THANKS\n\nThe following people have contributed:\n", "# Maintainers\n", "Credits\n-------\n",
      "Patches and Suggestions\n```````````````````````\n"), ("- {name} <{email}>", "* {name} (@{handle})",
      "{name} <{email}>", "- [{name}](https://github.com/{handle})",
      "- {name} `@{handle} <https://github.com/{handle}>`_", "@{handle}", "- {company}", "- {name}",
      "* {name} - https://github.com/{handle}", "{name} <{email}> (@{handle})"), (3, 14))
spec("changelog", 1.5, "Markdown", ("# Changelog\n\n## [{ver}] - {date}\n", "## {ver} ({date})\n",
      "v{ver}\n---\n"), ("- Fix {ident} on Windows (#{n}, @{handle})",
      "- Add `{ident}` option. Thanks to {name} for the report.",
      "- Handle {ident} timeouts ([#{n}](https://github.com/{handle}/{repo}/pull/{n}))",
      "* {phrase} (@{handle})", "- Merge pull request #{n} from {handle}/{ident}-fix", "- {phrase}",
      "- Bump {word} to {ver}", "\n## [{ver}] - {date}\n", "- Thanks {name} and {name2} for testing."),
     (3, 10))
spec("readme_links", 1.4, "Markdown", "# {repo}\n\n{phrase}.\n",
     ("    git clone https://github.com/{handle}/{repo}.git",
      "    git clone https://gitlab.com/{org}/{repo}.git",
      "[![CI](https://github.com/{handle}/{repo}/workflows/ci/badge.svg)](https://github.com/{handle})",
      "    pip install git+https://github.com/{handle}/{repo}@main",
      "Maintained by [@{handle}](https://github.com/{handle}).", '  config.vm.box = "{handle}/debian12"',
      "See https://github.com/{handle}/{repo}/issues/{n}.", "    docker run -d {handle}/{repo}:latest",
      "Written by {name}; see https://{org}.github.io/{repo}/."), (3, 8))
spec("go_module", 1.0, ("Go Module", "Go"), ("module github.com/{handle}/{repo}\n\ngo 1.21\n\nrequire (",
      'package {word}\n\nimport (\n\t"fmt"'), ("\tgithub.com/{handle}/{word} v{ver}",
      "\tgithub.com/{org}/{word} v{ver} // indirect", '\t"golang.org/x/{word}"',
      '\t"github.com/{handle}/{word}"', '\t{ident} "github.com/{handle}/{repo}/pkg"'), (2, 8), ")")
spec("dockerfile", 1.2, "Dockerfile", ("FROM {handle}/{word}:{ver}", "FROM python:3.12-slim",
      "FROM node:20 AS b"), ('LABEL maintainer="{name} <{email}>"', "ENV DB_PASSWORD={pw}",
      "ARG GITHUB_TOKEN={key:github}", "EXPOSE {port}", "RUN useradd -m {login}",
      "WORKDIR /home/{login}/app", "ENV API_KEY={key}", 'ENV SECRET_KEY="{key:django}"',
      "ENV POSTGRES_USER={role}"), (3, 7), 'CMD ["./start.sh"]', fmt="env")
spec("home_paths", 1.3, ("Shell", "Text", "PowerShell"), "", ('export PATH="/home/{login}/.local/bin:$PATH"',
      "source /Users/{login}/venvs/{word}/bin/activate",
      '  File "/home/{login}/src/{repo}/{ident}.py", line {n}, in <module>', "cd ~{login}/bin",
      "C:\\Users\\{login}\\AppData\\Local\\{cls}\\config.ini",
      "cp build/*.so /Users/{login}/Library/{word}/", "ls -la /home/{login}/.ssh", "sudo -u {role} psql"),
     (3, 9))
spec("netrc", 0.9, "Text", "", ("machine {host}\n  login {login}\n  password {pw:url}",
      "machine {iphost} login {login} password {pw:url}",
      "machine api.github.com\n  login {handle}\n  password {pwtok}"), (1, 4))
spec("curl_commands", 1.6, "Shell", ("#!/usr/bin/env bash\nset -euo pipefail\n", "", "#!/bin/sh"),
     ("curl -u {login}:{pw:url} https://{host}/api/{word}",
      'curl --user "{login}:{pw:url}" http://{ip:v4}:{port}/',
      'curl -H "Authorization: Bearer {key}" https://{host}/v1/{word}',
      'curl -H "Authorization: Basic {basic}" https://{iphost}/status',
      "mysql -h {ip} -u {login} -p{pw:url} {word}", "wget --user={login} --password={pw:url} ftp://{ip:v4}/",
      'psql "{uri:postgres}"', "redis-cli -h {ip} -a {pw:url}",
      "docker login -u {handle} -p {pw:url} registry.{host}", "sshpass -p '{pw:url}' ssh {login}@{ip}",
      'curl -u "$API_USER:$API_PASSWORD" https://{host}/',
      "git clone https://{login}:{pwtok}@github.com/{handle}/{repo}.git"), (2, 6), fmt="sh")
spec("log_lines", 2.0, "Text", "",
     ('{ip} - - [10/Oct/{year}:{time} +0000] "GET /{word} HTTP/1.1" 200 {n} "-" "Mozilla/5.0"',
      '{ip} - {handle} [02/Mar/{year}:{time} +0100] "POST /login HTTP/1.1" 302 0',
      "{date} {time} sshd[{n}]: Failed password for invalid user {role} from {ip} port {n2} ssh2",
      "{date} {time} sshd[{n}]: Accepted publickey for {handle} from {ip} port {n2} ssh2",
      "{date}T{time}Z INFO login ok user={email} ip={ip}",
      "{date} {time} WARN {ip:v4}:5432 refused (id {uuid})",
      "{date} {time} fail2ban.actions [{n}]: NOTICE [sshd] Ban {ip}", "{date} {time} INFO agent v{version}",
      "{date} {time} ERROR upstream timed out, client: {ip}, server: {host}"), (4, 14))
spec("nginx_conf", 1.0, "Nginx", "server {\n    listen {ip:v4}:80;\n    server_name {host};",
     ("    allow {cidr};", "    deny all;", "    set_real_ip_from {cidr};",
      "    proxy_pass http://{ip:v4}:{port};", "    resolver {ip:dns} valid=30s;",
      "    auth_basic_user_file /etc/nginx/.htpasswd;", "    listen [{ip:pub6}]:443;",
      "    location /{word} {\n        proxy_pass http://{ip:v4}:8080;\n    }", "    # {phrase}"), (3, 9),
     "}")
spec("hosts_network", 1.0, ("Text", "YAML", "Shell"), ("{ip:loop4}\tlocalhost\n{ip:loop6}\tip6-localhost",
      "# /etc/hosts", ""), ("{ip}\t{host}", "{ip:priv4}  {word}01.{word}.lan {word}01", "nameserver {ip:dns}",
      "nameserver {ip}", "address {ip:priv4}\nnetmask {netmask}\ngateway {ip:priv4}",
      "iptables -A INPUT -s {cidr} -j ACCEPT", "      addresses: [{cidr}]", "# not an address: {badip}",
      "{ip:link6}%eth0 {word}", "# {phrase}"), (3, 10))
spec("mail_headers", 1.5, "Email", ("Return-Path: <{email}>\nReceived: from {host} ({host} [{ip}])\n"
      "\tby mx.{host} with ESMTPS id {hex:12}\n\tfor <{email2}>; Tue, 3 Jan {year} {time} +0000\n"
      'From: {name} <{email}>\nTo: "{name2}" <{email2}>', "From: {name} <{email}>\nTo: {email2}",
      'From: "{name}" <{email}>\nSender: {email}\nTo: {name2} <{email2}>'), ("Cc: {name} <{email}>",
      "Reply-To: {email}", "Subject: Re: {phrase}", "Date: Mon, 2 Jan {year} {time} +0100",
      "Message-ID: <{msgid}>", "Content-Type: text/plain; charset=utf-8", "X-Originating-IP: [{ip}]",
      "X-Mailer: {product} {ver}"), (3, 7), "\nHi,\n\n{phrase}.\n\n-- \n{name}")
spec("owners_file", 0.8, ("Text", "YAML"), ("# CODEOWNERS", "approvers:", "# OWNERS"),
     ("*       @{handle} @{handle2}", "/docs/  @{org}/docs-team", "/src/{word}/ @{handle}", "  - {handle}",
      "*.go @{handle} @{org}/{word}", "reviewers:\n  - {handle}\n  - {handle2}"), (2, 7))
spec("rcs_tags", 0.5, ("C", "C++", "Perl"), "",
     ("/*\t$OpenBSD: {word}.c,v 1.{n} {year}/05/14 {time} {handle} Exp $\t*/", "/* $FreeBSD$ */",
      "/* $NetBSD: {word}.c,v 1.{n} {year}/01/02 {time} {handle} Exp $ */", "static int {ident}_{word};",
      "/* $Id: {word}.h,v 1.{n} {year}/04/01 {time} {handle} Exp $ */", "#include <{word}.h>"), (2, 5),
     pad_lines=6)
spec("gitconfig", 0.8, "Git Config", "", ("[user]\n\tname = {name}\n\temail = {email}",
      "[github]\n\tuser = {handle}", "[core]\n\teditor = vim",
      '[url "https://{handle}:{pwtok}@github.com/"]\n\tinsteadOf = https://github.com/',
      "[credential]\n\thelper = store", "[sendemail]\n\tsmtpuser = {email}\n\tsmtpserver = smtp.{host}"),
     (2, 5))
spec("maven_settings", 0.8, "XML", '<?xml version="1.0" encoding="UTF-8"?>\n<settings>\n  <servers>',
     ("    <server>\n      <id>{word}</id>\n      <username>{login}</username>\n"
      "      <password>{pw:xml}</password>\n    </server>",
      "    <server>\n      <id>github</id>\n      <username>{handle}</username>\n"
      "      <password>{pwtok}</password>\n    </server>", "    <!-- {phrase} -->"), (1, 4),
     "  </servers>\n  <proxies>\n    <proxy>\n      <host>{ip}</host>\n"
     "      <username>{login}</username>\n      <password>{pw:xml}</password>\n    </proxy>\n"
     "  </proxies>\n</settings>", fmt="xml")
spec("docker_compose", 2.0, "YAML", ('version: "3.8"\nservices:', "services:"),
     ("  db:\n    image: postgres:15\n    environment:\n      POSTGRES_USER: {login}\n"
      "      POSTGRES_PASSWORD: {pw}",
      "  mysql:\n    image: mariadb:11\n    environment:\n      - MYSQL_ROOT_PASSWORD={pw}\n"
      "      - MYSQL_USER={login}\n      - MYSQL_PASSWORD={pw2}",
      "  app:\n    image: {handle}/{repo}:latest\n    environment:\n      DATABASE_URL: {uri}\n"
      '      SECRET_KEY: {key}\n    ports:\n      - "{ip:loop4}:8080:8080"',
      "  pgadmin:\n    image: {handle}/pgadmin4\n    environment:\n      PGADMIN_DEFAULT_EMAIL: {email}\n"
      "      PGADMIN_DEFAULT_PASSWORD: {pw}",
      "  cache:\n    image: redis:7\n    command: redis-server --requirepass {pw:url}",
      "  mq:\n    image: rabbitmq:3\n    environment:\n      - RABBITMQ_DEFAULT_USER={login}\n"
      "      - RABBITMQ_DEFAULT_PASS={pw}",
      "  web:\n    image: nginx\n    networks:\n      front:\n        ipv4_address: {ip:priv4}",
      "  api:\n    environment:\n      - DB_PASSWORD=${DB_PASSWORD:-{pw:url}}\n      - TOKEN=${API_TOKEN}"),
     (1, 4))
spec("k8s_secret", 1.3, "YAML",
     "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {word}-credentials\ntype: Opaque\ndata:",
     ("  password: {b64pw}", "  {word}-password: {b64pw}", "  username: {b64user}", "  api-key: {b64key}",
      "  token: {b64key}"), (1, 4), ("stringData:\n  DATABASE_URL: {uri}\n  password: {pw}",
      "stringData:\n  smtp-user: {email}\n  smtp-password: {pw}",
      "---\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
      "        - env:\n            - name: DB_PASSWORD\n              valueFrom:\n"
      "                secretKeyRef:\n                  name: {word}-credentials\n"
      "                  key: password"))
spec("pem_file", 1.0, ("PEM", "Text"), "", ("{pem}", "{pem}", "{pem:pub}"), (1, 2))
spec("pem_in_code", 0.8, ("Python", "JavaScript", "Go", "JSON"), ("", "// {phrase}", "# {phrase}"),
     ('PRIVATE_KEY = """{pem}"""', 'const privateKey = "{pem:concat}";', "var signingKey = []byte(`{pem}`)",
      '  "private_key": "{pem:json}",'), (1, 1), ("", '  "client_email": "{email}",'), pad_lines=4)
