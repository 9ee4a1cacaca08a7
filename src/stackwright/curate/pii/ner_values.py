"""The values of the synthetic NER cases: a :class:`Doc` being built with its labelled :class:`Val` parts,
and :class:`Gen`, the per-case random source of names, logins, emails, passwords, keys and addresses
(Faker for people, ``random`` for the rest, both reseeded per case), with the hard negatives beside them."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
import unicodedata
from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple, TypeAlias, TypeVar

from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS, KEY, NAME, PASSWORD, USERNAME
from stackwright.errors import StackwrightError


class Val(NamedTuple):
    """A labelled value: appended to a :class:`Doc`, it becomes an entity."""

    label: str
    value: str
    dummy: bool = False
    example: bool = False


class Expr(str):
    """A template or environment reference (``${DB_PASS}``, ``os.environ[...]``), unquoted in code."""

    __slots__ = ()


class Bare(str):
    """A literal written without quotes in every format (numbers, booleans)."""

    __slots__ = ()


Item: TypeAlias = str | Val | tuple["Item", ...]


class Doc:
    """A text being built, with the entities appended so far as ``(start, Val)``."""

    __slots__ = ("_len", "_parts", "entities")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self.entities: list[tuple[int, Val]] = []

    def add(self, *items: Item) -> Doc:
        for item in items:
            if isinstance(item, Val):
                self.entities.append((self._len, item))
                piece = item.value
            elif isinstance(item, str):
                piece = item
            else:
                self.add(*item)
                continue
            self._parts.append(piece)
            self._len += len(piece)
        return self

    def line(self, *items: Item) -> Doc:
        return self.add(*items, "\n")

    def text(self) -> str:
        return "".join(self._parts)



if TYPE_CHECKING:
    from faker import Faker

__all__ = ["DUMMY_KEYS", "DUMMY_PASSWORDS", "LOCALES", "ROLE_ACCOUNTS", "Bare", "Doc", "Expr", "Gen", "Item",
           "Person", "Val", "ip_scope"]

_T = TypeVar("_T")
NEGATIVE_RATE = 0.3
LOCALES = {"en_US": 30, "de_DE": 8, "fr_FR": 8, "es_ES": 7, "it_IT": 6, "pt_BR": 7, "nl_NL": 5, "pl_PL": 5,
           "sv_SE": 4, "ru_RU": 2, "zh_CN": 2, "ja_JP": 2}
_LOCALE_NAMES = tuple(LOCALES)
_LOCALE_CUM = tuple(accumulate(LOCALES.values()))
# Generic, role and service accounts: never a person's USERNAME.
ROLE_ACCOUNTS = frozenset(
    "root admin administrator user username users test testuser tester guest postgres mysql mariadb gitea "
    "git www-data nobody daemon sa elastic kibana api service deploy deployer jenkins ubuntu ec2-user pi "
    "centos vagrant oracle sys system dbuser dbadmin app appuser web ftp ftpuser mail postmaster operator "
    "runner docker demo default anonymous superuser support info ci bot backup monitor nagios zabbix redis "
    "rabbitmq mongo mongodb minio keycloak grafana airflow odoo wordpress wp node python django rails dev "
    "developer sonar nexus qa staging prod db manager webmaster hostmaster noreply no-reply shared".split())
ROLE_LOGINS = ("root", "admin", "postgres", "sa", "www-data", "test", "api", "elastic", "user", "deploy",
               "app", "mysql", "guest", "testuser", "ubuntu", "gitea", "dbuser")
DUMMY_PASSWORDS = ("password", "pass", "secret", "test", "changeme", "changeit", "tiger", "12345678",
                   "123456", "yourpassword", "password123", "admin", "admin123", "root", "letmein", "qwerty",
                   "P@ssw0rd", "passw0rd", "s3cr3t", "secret123", "test123", "pass123", "foobar", "welcome1",
                   "hunter2", "guest", "postgres", "mysecretpassword", "abc123", "1234")
DUMMY_KEYS = ("secret", "changeme", "mysecret", "supersecret", "keyboard cat", "s3cr3t", "secretkey",
              "my-secret", "abc123", "shhhhh", "topsecret", "secret-key")
PW_PLACEHOLDERS = ("<password>", "[PASSWORD]", "{password}", "<your-password>", "YOUR_PASSWORD", "xxxxxxxx",
                   "********", "<db_password>", "REPLACE_WITH_PASSWORD", "<PASSWORD>", "{DB Password}",
                   "[your password]", "DB_PASSWORD_HERE", "****", "<secret>", "")
KEY_PLACEHOLDERS = ("YOUR_API_KEY", "<api-key>", "[API_KEY]", "{Client Secret}", "<your-token>",
                    "xxxxxxxxxxxxxxxx", "****************", "AKIAZZZZZZZZZZZZZZZZ", "AKIAXXXXXXXXXXXXXXXX",
                    "sk_live_", "<SECRET_KEY>", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "[TOKEN]",
                    "INSERT_TOKEN_HERE", "YOUR_APP_KEY", "USER_OAUTH_TOKEN", "<access-token>", "{api_key}",
                    "RANDOMCHARS-----", "YOUR_SECRET_KEY_HERE", "")
EMAIL_PLACEHOLDERS = ("<email>", "[EMAIL]", "{email}", "<your-email>", "xxxx@xxxx.com", "YOUR_EMAIL",
                      "<EMAIL_ADDRESS>", "{Admin Email}")
NAME_PLACEHOLDERS = ("Your Name", "First Last", "Example User", "<your name>", "[Author Name]", "{author}",
                     "AUTHOR", "Full Name", "The Authors", "YOUR NAME", "<name>", "Firstname Lastname")
ROLE_NAMES = ("Mailer Daemon", "Postmaster", "Webmaster", "Administrator", "Support Team", "Release Bot",
              "dependabot[bot]", "github-actions[bot]", "Build Server", "Daemon", "Mailer", "Security Team")
LOGIN_PLACEHOLDERS = ("<username>", "[USERNAME]", "{user}", "YOUR_USERNAME", "<user>", "<login>")
IP_PLACEHOLDERS = ("<ip>", "<server-ip>", "[IP_ADDRESS]", "192.168.178.X", "x.x.x.x", "YOUR_SERVER_IP",
                   "10.0.0.x", "<host>", "localhost", "db", "0.0.0.x", "{host}")
PRODUCTS = ("PostgreSQL", "Kubernetes", "Redis", "Jenkins", "Hudson", "Django", "Sphinx", "Jasmine", "Karma",
            "Mocha", "Ruby", "Elastic", "Grafana", "Prometheus", "Kafka", "Cassandra", "Ansible", "Gradle",
            "Docker", "Nginx", "Apache", "Tomcat", "Jetty", "Maven", "Electron", "Flask", "Celery", "Julia")
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "protonmail.com", "gmx.de",
             "web.de", "orange.fr", "free.fr", "libero.it", "uol.com.br", "wp.pl", "yandex.ru", "qq.com",
             "163.com", "fastmail.com", "posteo.de", "mail.ru", "live.com", "aol.com", "proton.me")
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "dev.example.org",
                   "corp.example", "app.test", "mail.test", "example.invalid", "users.example.net")
PLACEHOLDER_EMAILS = ("your@email.com", "username@gmail.com", "user@domain.com", "example@domain.com",
                      "me@mydomain.com", "name@company.com", "you@yourdomain.com", "email@email.com")
WORDS = ("alpha", "amber", "anchor", "apple", "arrow", "atlas", "aurora", "autumn", "badger", "banana",
         "beacon", "birch", "bison", "blue", "breeze", "bridge", "cactus", "canyon", "castle", "cedar",
         "cobalt", "comet", "coral", "cosmos", "crystal", "delta", "desert", "dolphin", "dragon", "eagle",
         "ember", "falcon", "forest", "galaxy", "garden", "glacier", "granite", "harbor", "hazel", "horizon",
         "island", "jade", "jaguar", "lagoon", "lemon", "lotus", "maple", "marble", "meadow", "monkey",
         "ocean", "olive", "onyx", "orchid", "otter", "panda", "pepper", "planet", "quartz", "rabbit",
         "river", "rocket", "saturn", "shadow", "silver", "storm", "summer", "sunset", "thunder", "tulip",
         "violet", "walnut", "willow", "winter", "zebra", "sommer", "soleil", "verano", "zomer", "lato",
         "kaffee", "chocolat", "futebol", "biblioteca", "fiets")
_B64 = string.ascii_letters + string.digits + "+/"
_B64URL = string.ascii_letters + string.digits + "-_"
_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
_DJANGO = string.ascii_lowercase + string.digits + "!@#%^&*(-_=+)"
_CHARSETS = {"any": _ALNUM + "!#%&*+-.=?@^_~", "url": _ALNUM + "-_.~!*", "shell": _ALNUM + "-_.+=%@#^,",
             "xml": _ALNUM + "-_.!#%*+=?^~"}
# Key formats: kind -> (prefixes, alphabet, lengths); jwt, slack, sendgrid and b64 are built apart.
_KEYS = {"aws_id": (("AKIA", "AKIA", "ASIA"), string.ascii_uppercase + "234567", (16,)),
         "aws_secret": (("",), _B64, (40,)), "github": (("ghp_", "ghp_", "gho_", "ghs_"), _ALNUM, (36,)),
         "stripe": (("sk_live_", "sk_live_", "rk_live_", "sk_test_"), _ALNUM, (24, 99)),
         "hex": (("",), _HEX, (32, 40, 64)), "generic": (("",), _ALNUM, (20, 32, 40)),
         "google": (("AIzaSy",), _B64URL, (33,)), "twilio": (("SK",), _HEX, (32,)),
         "django": (("", "django-insecure-"), _DJANGO, (50,)),
         "openai": (("sk-", "sk-proj-"), _ALNUM, (48,)), "npm": (("npm_",), _ALNUM, (36,)),
         "hf": (("hf_",), string.ascii_letters, (34,))}
_KEY_KINDS = ("aws_secret", "github", "slack", "stripe", "jwt", "hex", "b64", "generic", "google", "sendgrid",
              "openai", "twilio", "npm", "hf", "generic", "hex")
_DER = {"RSA": "308204a40201000282010100", "PKCS8": "308204be020100300d06092a864886f70d0101010500048204a8",
        "EC": "30770201010420", "OPENSSH": "6f70656e7373682d6b65792d7631000000000a",
        "PUBLIC": "30820122300d06092a864886f70d01010105000382010f003082010a0282010100"}
_IP_KINDS = ("pub4", "pub4", "pub4", "priv4", "priv4", "priv4", "loop4", "any4", "doc4", "pub6", "pub6",
             "priv6", "loop6", "dns", "mapped", "link6")
_V4_KINDS = ("pub4", "pub4", "priv4", "priv4", "loop4", "doc4")
_V6_PREFIXES = ("2001:db8", "2a01:4f8", "2600:1f18", "2a00:1450", "2607:f8b0", "2001:41d0", "2a02:26f0")
_CYRILLIC = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya".split(),
                     strict=True))
_SPECIAL = {"ł": "l", "ß": "ss", "ø": "o", "æ": "ae", "đ": "d", "ı": "i", "œ": "oe", "_": ""}


def _ascii(text: str) -> str:
    """Lower-case ASCII letters and digits of a name (Cyrillic transliterated, accents dropped)."""
    low = "".join(_CYRILLIC.get(c, _SPECIAL.get(c, c)) for c in text.lower())
    flat = unicodedata.normalize("NFKD", low).encode("ascii", "ignore").decode()
    return "".join(c for c in flat if c.isalnum())


def ip_scope(value: str) -> str:
    """The first true ``ipaddress`` predicate, in the dataset's order (``other`` when none is)."""
    address = ipaddress.ip_address(value)
    for scope in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved", "global"):
        if getattr(address, f"is_{scope}"):
            return scope
    return "other"


class Person(NamedTuple):
    first: str
    last: str
    full: str
    first_ascii: str
    last_ascii: str
    locale: str


_FAKERS: dict[str, Faker] = {}


def _faker(locale: str) -> Faker:
    """One Faker per locale for the process (created on first use, reseeded for every case)."""
    if locale not in _FAKERS:
        try:
            from faker import Faker
        except ImportError:
            raise StackwrightError("generating NER training data needs Faker: "
                                   "pip install 'stackwright[model]'") from None
        _FAKERS[locale] = Faker(locale)
    return _FAKERS[locale]


class Gen:
    """The values of one case: a seeded ``random.Random``, seeded Fakers, and the slots templates fill
    (each gives a labelled :class:`Val`, or a hard negative in a negative case and now and then in a
    positive one)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.neg = False
        self._case_seed = 0
        self._seeded: set[str] = set()

    def reset(self, index: int) -> None:
        self.rng.seed(f"stackwright-ner:{self.seed}:{index}")
        self._case_seed = self.rng.getrandbits(48)
        self._seeded = set()
        self.neg = self.rng.random() < NEGATIVE_RATE

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq: Sequence[_T]) -> _T:
        return seq[int(self.rng.random() * len(seq))]

    def n(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def fk(self, locale: str = "en_US") -> Faker:
        fake = _faker(locale)
        if locale not in self._seeded:
            fake.seed_instance(self._case_seed + _LOCALE_NAMES.index(locale))
            self._seeded.add(locale)
        return fake

    def chars(self, alphabet: str, length: int) -> str:
        return "".join(self.rng.choices(alphabet, k=length))

    def hexs(self, length: int) -> str:
        return self.chars(_HEX, length)

    def b64(self, raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    def word(self) -> str:
        return self.pick(WORDS)

    def year(self) -> int:
        return self.n(1998, 2025)

    def ind(self) -> str:
        return self.pick(("  ", "    ", "    ", "\t", "  "))

    def company(self) -> str:
        return self.fk(self.pick(("en_US", "en_US", "de_DE", "fr_FR", "nl_NL", "it_IT"))).company()

    def org(self) -> str:  # an organisation or project handle, never a USERNAME
        w = self.word()
        return self.pick((f"{w}-labs", f"{w}io", f"{w}hq", f"{w}-dev", f"{w}-project", f"{w}-org",
                          f"the{w}", f"{w}-team", f"{w}soft", f"{w}-cloud", f"get{w}", f"{w}js"))

    def host(self) -> str:
        w = self.word()
        return self.pick((f"db.{w}.internal", "localhost", f"{w}-db", f"redis.{w}.svc.cluster.local",
                          f"{w}.local", self.fk().domain_name(), f"mail.{self.fk().domain_name()}",
                          f"api.{w}.io", "db", "postgres", f"{w}-primary"))

    def repo(self) -> str:
        w = self.word()
        return self.pick((w, f"{w}-{self.word()}", f"py{w}", f"{w}.js", f"go-{w}", f"{w}-cli", f"{w}.nvim"))

    def uuid(self) -> str:
        h = self.hexs(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{self.pick('89ab')}{h[17:20]}-{h[20:]}"

    # -- people ---------------------------------------------------------------------------------------
    def person(self) -> Person:
        locale = self.rng.choices(_LOCALE_NAMES, cum_weights=_LOCALE_CUM)[0]
        f = self.fk(locale)
        if locale == "ru_RU":
            male = self.chance(0.5)
            first = f.first_name_male() if male else f.first_name_female()
            last = f.last_name_male() if male else f.last_name_female()
        else:
            first, last = f.first_name(), f.last_name()
        fa, la = _ascii(first.split()[0]), _ascii(last.split()[-1])
        full = f"{first} {last}"
        if self.chance(0.07):
            full = f"{first} {self.pick(string.ascii_uppercase)}. {last}"
        if locale in ("zh_CN", "ja_JP"):
            fa, la = _ascii(f.first_romanized_name()), _ascii(f.last_romanized_name())
            if self.chance(0.4):
                first, last = fa.capitalize(), la.capitalize()
                full = f"{first} {last}"
            else:
                full = f"{last}{first}" if locale == "zh_CN" else f"{last} {first}"
        if not fa or not la:
            fa, la = self.pick(("jan", "ana", "li", "tom")), self.pick(("kowal", "silva", "berg", "ito"))
        return Person(first, last, full, fa, la, locale)

    def name(self, p: Person | None = None) -> Item:
        if not (self.neg or self.chance(0.06)):
            return Val(NAME, (p or self.person()).full)
        r = self.rng.random()
        if r < 0.45:
            return self.company()
        if r < 0.65:
            return self.pick(PRODUCTS) + self.pick(("", " Project", " Contributors", " Authors", " Team"))
        return self.pick(NAME_PLACEHOLDERS if r < 0.85 else ROLE_NAMES)

    def name_parts(self, p: Person | None = None) -> tuple[Item, Item]:
        p = p or self.person()
        if self.neg:
            return self.pick(("First", "<first>", "Foo")), self.pick(("Last", "<last>", "Bar", "User"))
        return Val(NAME, p.first), Val(NAME, p.last)

    def handle_of(self, p: Person) -> str:
        f, la, n = p.first_ascii, p.last_ascii, self.n(1, 99)
        h = self.pick((f[0] + la, f"{f[0]}.{la}", f"{f}_{la}", f"{f}{la[0]}{n}", f, f"{f}{la}", f"{f}.{la}",
                       la + f[0], f"{f}-{la}", la, f"{f}{self.n(1, 2003)}", f[:3] + la[:3], f + la[0], f[:4],
                       f"{la}{n}", f"{f[0]}{la}{n % 10}"))
        if self.chance(0.12):
            h = h.replace(".", "").replace("_", "").capitalize()
        while h.lower() in ROLE_ACCOUNTS or len(h) < 3:
            h += str(self.n(1, 99))
        return h[:39]

    def handle(self, p: Person | None = None) -> Item:  # GitHub, changelog, image owner, home folder
        if self.neg or self.chance(0.1):
            return self.org() if self.chance(0.7) else self.pick(ROLE_LOGINS)
        return Val(USERNAME, self.handle_of(p or self.person()))

    def login(self, p: Person | None = None, fmt: str = "yaml") -> Item:
        if not (self.neg or self.chance(0.35)):
            return Val(USERNAME, self.handle_of(p or self.person()))
        if self.chance(0.25):
            return self.negative(fmt, LOGIN_PLACEHOLDERS, "user")
        return self.pick(ROLE_LOGINS)

    def email(self, p: Person | None = None, fmt: str = "yaml") -> Item:
        if self.neg or self.chance(0.06):
            return self.negative(fmt, EMAIL_PLACEHOLDERS, "email")
        r = self.rng.random()
        if r < 0.05:
            return Val(EMAIL, self.pick(PLACEHOLDER_EMAILS), example=True)
        p = p or self.person()
        f, la = p.first_ascii, p.last_ascii
        local = self.pick((f"{f}.{la}", f"{f[0]}{la}", f, f"{f}{la}", f"{f}_{la}", self.handle_of(p).lower(),
                           f"{f}.{la}{self.n(1, 99)}", f"{la}.{f}", f"{f}+{self.word()}"))
        if r < 0.23:
            return Val(EMAIL, f"{local}@{self.pick(EXAMPLE_DOMAINS)}", example=True)
        if r < 0.6:
            domain = self.fk(p.locale).free_email_domain() if self.chance(0.6) else self.pick(FREE_MAIL)
        elif r < 0.9:
            domain = self.fk(p.locale).domain_name().lower()
        else:
            w = self.word()
            domain = self.pick((f"{w}.edu", f"cs.{w}.ac.uk", f"uni-{w}.de", "users.noreply.github.com"))
        if self.chance(0.02):
            host, _, tld = domain.rpartition(".")
            return Val(EMAIL, self.pick((f"{local} at {host} dot {tld}", f"{local} [at] {domain}")))
        return Val(EMAIL, f"{local}@{domain}")

    # -- secrets --------------------------------------------------------------------------------------
    def password_value(self, charset: str = "any") -> Val:
        r = self.rng.random()
        if r < 0.22:
            return Val(PASSWORD, self.pick(DUMMY_PASSWORDS), dummy=True)
        if r > 0.6:
            return Val(PASSWORD, self.chars(_CHARSETS[charset], self.n(10, 32)))
        w, w2, sym, n = self.word(), self.word(), self.pick("!#.*-_?"), self.n(1, 99)
        leet = w.replace("a", "4").replace("o", "0").replace("e", "3")
        up = w.capitalize()
        human = (f"{up}{self.year()}", f"{w}{n}{sym}", f"{w}{self.n(1950, 2012)}", f"{leet}{n}", up + sym,
                 f"{up}{w2.capitalize()}{n}", f"{w}_{self.n(100, 9999)}", f"{w2}{sym}{w}{n % 10}")
        return Val(PASSWORD, self.pick(human))

    def password(self, fmt: str = "yaml", charset: str = "any") -> Item:
        if self.neg or self.chance(0.14):
            return self.negative(fmt, PW_PLACEHOLDERS, "password")
        return self.password_value(charset)

    def key_value(self, kind: str = "any") -> Val:
        kind = self.pick(_KEY_KINDS) if kind == "any" else kind
        if kind in ("hex", "b64", "generic", "django") and self.chance(0.06):
            return Val(KEY, self.pick(DUMMY_KEYS), dummy=True)
        if kind == "jwt":
            value = self.jwt()
        elif kind == "slack":
            value = f"xox{self.pick('bbpa')}-{self.n(10**10, 10**12)}-{self.n(10**11, 10**13)}-"
            value += self.chars(_ALNUM, 24)
        elif kind == "sendgrid":
            value = f"SG.{self.chars(_B64URL, 22)}.{self.chars(_B64URL, 43)}"
        elif kind == "b64":
            value = self.b64(self.rng.randbytes(self.pick((24, 32, 48))))
        else:
            prefixes, alphabet, lengths = _KEYS[kind]
            value = self.pick(prefixes) + self.chars(alphabet, self.pick(lengths))
        return Val(KEY, value)

    def key(self, kind: str = "any", fmt: str = "yaml") -> Item:
        if self.neg or self.chance(0.12):
            return self.negative(fmt, KEY_PLACEHOLDERS, "api_key")
        return self.key_value(kind)

    def jwt(self) -> str:
        alg = self.pick(("HS256", "HS256", "HS512", "RS256"))
        now = self.n(1_500_000_000, 1_760_000_000)
        body: dict[str, object] = {"sub": str(self.n(1, 10**7)), "iat": now}
        if self.chance(0.5):
            body["exp"] = now + self.pick((900, 3600, 86400))
        head = {"alg": alg, "typ": "JWT"} if self.chance(0.7) else {"typ": "JWT", "alg": alg}
        parts = [json.dumps(x, separators=(",", ":")).encode() for x in (head, body)]
        parts.append(self.rng.randbytes(256 if alg == "RS256" else 32))
        return ".".join(base64.urlsafe_b64encode(x).decode().rstrip("=") for x in parts)

    def basic(self) -> Item:  # Authorization: Basic base64(user:password), labelled KEY
        if self.neg:
            return self.pick(("<base64-credentials>", "$AUTH", "${BASIC_AUTH}", "dXNlcjpwYXNz..."))
        login = self.handle_of(self.person()) if self.chance(0.6) else self.pick(("admin", "api", "user"))
        return Val(KEY, self.b64(f"{login}:{self.password_value('url').value}".encode()))

    def pem_body(self, kind: str, public: bool = False) -> str:
        der = bytes.fromhex(_DER["PUBLIC" if public else kind])
        text = self.b64(der + self.rng.randbytes(110 if kind == "EC" else self.n(200, 700)))
        width = 70 if kind == "OPENSSH" else 64
        return "\n".join(text[i:i + width] for i in range(0, len(text), width))

    # -- addresses ------------------------------------------------------------------------------------
    def ip_value(self, kind: str | None = None) -> str:
        kind, r = kind or self.pick(_IP_KINDS), self.n
        kind = self.pick(_V4_KINDS) if kind == "v4" else kind
        if kind == "pub4":
            value = "10.0.0.1"
            while not ipaddress.IPv4Address(value).is_global:
                value = f"{r(1, 223)}.{r(0, 255)}.{r(0, 255)}.{r(1, 254)}"
            return value
        if kind == "priv4":
            return self.pick((f"10.{r(0, 255)}.{r(0, 255)}.{r(1, 254)}", f"192.168.{r(0, 20)}.{r(1, 254)}",
                              f"172.{r(16, 31)}.{r(0, 255)}.{r(1, 254)}", f"192.168.{r(0, 255)}.{r(1, 254)}"))
        if kind == "doc4":
            return f"{self.pick(('192.0.2', '198.51.100', '203.0.113'))}.{r(1, 254)}"
        if kind == "mapped":
            return f"::ffff:{self.ip_value(self.pick(('priv4', 'doc4', 'pub4')))}"
        fixed = {"loop4": ("127.0.0.1", "127.0.0.1", "127.0.1.1", "127.0.0.2"), "loop6": ("::1", "::1", "::"),
                 "any4": ("0.0.0.0", "127.0.0.1", "255.255.255.255"),
                 "dns": ("8.8.8.8", "8.8.4.4", "1.1.1.1", "9.9.9.9", "208.67.222.222", "2606:4700::1111")}
        if kind in fixed:
            return self.pick(fixed[kind])
        groups = [f"{r(0, 0xffff):x}" for _ in range(8)]
        prefix = {"pub6": self.pick(_V6_PREFIXES).split(":"), "priv6": [f"fd{r(0, 255):02x}"],
                  "link6": ["fe80", "0", "0", "0"]}[kind]
        full = [*prefix, *groups[len(prefix):]]
        if self.chance(0.45):
            full[r(4, 6)] = full[r(3, 4)] = "0"
        value = ipaddress.IPv6Address(":".join(full)).compressed
        return value.upper() if self.chance(0.05) else value

    def ip(self, kind: str | None = None, fmt: str = "yaml") -> Item:
        if self.neg or self.chance(0.06):
            return self.negative(fmt, IP_PLACEHOLDERS, "host")
        return Val(IP_ADDRESS, self.ip_value(kind))

    def cidr(self) -> tuple[Item, ...]:
        if self.neg:
            return (self.pick(("<cidr>", "${VPC_CIDR}", "x.x.x.x/24", "{{ subnet }}")),)
        v6 = self.chance(0.15)
        kind = "priv6" if v6 else self.pick(("priv4", "pub4", "doc4"))
        prefix = self.pick((48, 56, 64) if v6 else (8, 12, 16, 20, 24, 24, 28, 32))
        net = ipaddress.ip_network(f"{self.ip_value(kind)}/{prefix}", strict=False)
        return Val(IP_ADDRESS, str(net.network_address)), f"/{net.prefixlen}"

    # -- negatives ------------------------------------------------------------------------------------
    def negative(self, fmt: str, placeholders: Sequence[str], var: str) -> Item:
        """A documentation placeholder, or a template / environment reference fitting ``fmt``."""
        if self.chance(0.45):
            return self.pick(placeholders)
        return self.env_ref(fmt, self.pick(("db", "app", "smtp", "api", "prod", "service")) + "_" + var)

    def env_ref(self, fmt: str, var: str) -> Item:
        up, low = var.upper(), var.lower()
        code = {
            "py": (f'os.environ["{up}"]', f'os.getenv("{up}")', f"os.environ.get('{up}')", f"settings.{up}"),
            "js": (f"process.env.{up}", f'process.env["{up}"]', f'config.get("{low}")'),
            "go": (f'os.Getenv("{up}")', f'viper.GetString("{low}")'),
            "java": (f'System.getenv("{up}")', f'env.getProperty("{low.replace("_", ".")}")'),
            "rb": (f'ENV["{up}"]', f"ENV.fetch('{up}')", f"Rails.application.credentials.{low}"),
            "php": (f"getenv('{up}')", f"$_ENV['{up}']", f"env('{up}')"),
            "cs": (f'Environment.GetEnvironmentVariable("{up}")', f'Configuration["{up}"]'),
            "sh": (f'"${up}"', f'"${{{up}}}"', f"$(cat /run/secrets/{low})", f"${up}"),
        }
        family = {"ts": "js", "kt": "java"}.get(fmt, fmt)
        if family in code:
            return Expr(self.pick(code[family]))
        return Expr(self.pick((f"${{{up}}}", f"${{{up}}}", f"{{{{ {low} }}}}", f"${up}", f"%{up}%",
                               f"{{{{ .Values.{low} }}}}", f"${{env:{up}}}", f"/run/secrets/{low}")))
