"""Synthetic, labelled code for training the PII NER detector (StarPII's six classes).

``generate(count, seed)`` yields cases in the format ``stackwright eval pii --cases`` reads: texts of 5-40
lines with the exact spans of their NAME, EMAIL, USERNAME, PASSWORD, KEY and IP_ADDRESS values, annotated
by the rules of the PII development set (values only; ``dummy`` and ``example`` flags). A third of the
cases hold no entity; the others mix in hard negatives (placeholders, ``${DB_PASS}``, role accounts,
organisations, hashes, UUIDs, public keys, versions, netmasks). Faker and ``random`` are reseeded per case.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path

from stackwright.curate.pii import ner_templates as tpl
from stackwright.curate.pii.entities import IP_ADDRESS, LABELS
from stackwright.curate.pii.ner_values import (
    DUMMY_KEYS,
    DUMMY_PASSWORDS,
    LOCALES,
    ROLE_ACCOUNTS,
    Doc,
    Gen,
    Person,
    Val,
    ip_scope,
)
from stackwright.files import write_atomic

__all__ = ["DUMMY_KEYS", "DUMMY_PASSWORDS", "LOCALES", "ROLE_ACCOUNTS", "TEMPLATES", "Doc", "Gen", "Person",
           "Val", "case_of", "generate", "ip_scope", "write_cases"]

TEMPLATES, spec = tpl.TEMPLATES, tpl.spec


# -- patterns of code, and negatives ------------------------------------------------------------------
spec("jwt_docs", 1.0, ("Markdown", "reStructuredText", "Python"), ("## Authentication\n", ">>> import jwt"),
     ('    curl -H "Authorization: Bearer {key:jwt}" https://{host}/api/me',
      "    Authorization: Bearer {key:jwt}",
      '>>> jwt.encode({"sub": "{n}"}, "{key:hex}", algorithm="HS256")\n\'{key:jwt}\'',
      '>>> jwt.decode(token, "{key}", algorithms=["HS256"])', "    export SLACK_TOKEN={key:slack}"), (2, 5))
spec("django_settings", 1.2, "Python",
     "from pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n",
     ("SECRET_KEY = {key:django!}", "DEBUG = False", "ALLOWED_HOSTS = [{ip!}, {host!}]",
      "ADMINS = [({name!}, {email!})]", "EMAIL_HOST_USER = {email!}\nEMAIL_HOST_PASSWORD = {pw!}",
      "INTERNAL_IPS = [{ip:loop4!}]",
      "DATABASES = {\n    'default': {\n        'ENGINE': 'django.db.backends.postgresql',\n"
      "        'USER': {login!},\n        'PASSWORD': {pw!},\n        'HOST': {ip!},\n    }\n}",
      "AWS_SECRET_ACCESS_KEY = {key:aws_secret!}"), (3, 7), fmt="py")
spec("python_client", 0.9, "Python", ("", "# {phrase}"),
     ("client = boto3.client(\n    's3',\n    aws_access_key_id={key:aws_id!},\n"
      "    aws_secret_access_key={key:aws_secret!},\n)",
      "conn = psycopg2.connect(host={ip!}, user={login!}, password={pw!}, dbname={word!})",
      "resp = requests.get(url, auth=({login!}, {pw!}), timeout=10)", "server.login({email!}, {pw!})",
      "r = redis.Redis(host={ip!}, port=6379, password={pw!})", "client = MongoClient({uri:mongodb!})",
      "slack = WebClient(token={key:slack!})", "gh = Github({key:github!})",
      "ssh.connect({ip!}, username={login!}, password={pw!})", "token = jwt.encode(payload, {hmac!})",
      "headers = {'Authorization': 'Bearer {key}'}", "openai.api_key = {key:openai!}", "george = Node()"),
     (2, 5), fmt="py", pad_lines=5)
spec("js_client", 0.9, ("JavaScript", "TypeScript"), ("", "// {phrase}"),
     ("const pool = new Pool({ user: {login!}, host: {ip!}, password: {pw!} });",
      "mongoose.connect({uri:mongodb!});",
      "const mailer = nodemailer.createTransport({ auth: { user: {email!}, pass: {pw!} } });",
      "axios.defaults.headers.common['Authorization'] = 'Bearer {key}';",
      "const token = jwt.sign(payload, {hmac!});", "app.use(session({ secret: {key!}, resave: false }));",
      "const octokit = new Octokit({ auth: {key:github!} });", "const admin = { name: {name!} };"), (2, 5),
         fmt="js", pad_lines=5)
spec("go_client", 0.9, "Go", ("", "// {phrase}"),
     ('db, err := sql.Open("mysql", "{login}:{pw:url}@tcp({ip:v4}:3306)/{word}")',
      "req.SetBasicAuth({login!}, {pw!})",
      'rdb := redis.NewClient(&redis.Options{Addr: "{ip:v4}:6379", Password: {pw!}})',
      "var jwtKey = []byte({hmac!})", 'auth := smtp.PlainAuth("", {email!}, {pw!}, "smtp.{host}")',
      'req.Header.Set("Authorization", "Bearer {key}")'), (2, 5), fmt="go", pad_lines=5)
spec("java_client", 0.9, ("Java", "Kotlin"), ("", "// {phrase}"),
     ('Connection c = DriverManager.getConnection("jdbc:postgresql://{ip:v4}:5432/{word}", {login!}, '
      "{pw!});", "mailSender.setUsername({email!});\nmailSender.setPassword({pw!});",
      '@Value("${db.password}")\nString password;',
      "AWSCredentials creds = new BasicAWSCredentials({key:aws_id!}, {key:aws_secret!});"), (2, 4),
         fmt="java", pad_lines=5)
spec("ruby_client", 0.8, "Ruby", ("", "# {phrase}"),
     ("config.action_mailer.smtp_settings = {\n  address: 'smtp.{host}',\n  user_name: {email!},\n"
      "  password: {pw!}\n}", "client = Octokit::Client.new(access_token: {key:github!})",
      "redis = Redis.new(host: {ip!}, password: {pw!})", "Stripe.api_key = {key:stripe!}",
      "password: <%= ENV['DATABASE_PASSWORD'] %>"), (2, 4), fmt="rb", pad_lines=5)
spec("php_client", 0.9, "PHP", "<?php", ("define('DB_PASSWORD', {pw!});", "define('DB_USER', {login!});",
      "define('AUTH_KEY', {key:django!});",
      "$pdo = new PDO('mysql:host={ip:v4};dbname={word}', {login!}, {pw!});", "$mail->Username = {email!};",
      "'password' => env('DB_PASSWORD', {pw!}),"), (2, 5), fmt="php", pad_lines=5)
spec("csharp_client", 0.7, "C#", ("", "// {phrase}"),
     ('var cs = "Server={ip:v4};Database={word};User Id={login};Password={pw:url};";',
      "options.ApiKey = {key!};", "client.Credentials = new NetworkCredential({email!}, {pw!});"), (2, 4),
         fmt="cs", pad_lines=5)
spec("connection_strings", 1.6, ("YAML", "Python", "Dotenv"), "", ("DATABASE_URL={uri}", "  url: {uri}",
      'SQLALCHEMY_DATABASE_URI = "{uri}"', "CELERY_BROKER_URL={uri:amqp}", "REDIS_URL={uri:redis}",
      "MONGO_URI={uri:mongodb+srv}", "  dsn: {uri:postgresql}", "DATABASE_URL=${DATABASE_URL}"), (2, 6))
spec("test_fixtures", 2.0, ("Python", "JavaScript", "Ruby", "JSON", "SQL", "YAML"), ("", "# sample data",
      "// fixtures"),
     ('    {"first_name": "{first}", "last_name": "{last}", "email": "{email}", "password": "{pw}"},',
      "  { name: '{name}', email: '{email}', username: '{handle}' },", "    ('{name}', '{email}', '{ip}'),",
      "User.create!(name: '{name}', email: '{email}', password: '{pw}')",
      "{ident}:\n  name: {name}\n  email: {email}",
      "INSERT INTO users (first_name, last_name, email) VALUES ('{first}', '{last}', '{email}');",
      'user = User(username="{handle}", first_name="{first}", last_name="{last}")', "jane = {cls}()"), (2, 8))
spec("lockfile_hashes", 1.0, ("JSON", "Go Checksums", "Text"), "", ('    "integrity": "{integrity}",',
      "github.com/{org}/{word} v{ver} h1:{h1}", "{word}=={ver} --hash=sha256:{hex}", 'checksum = "{hex}"',
      '    "resolved": "https://registry.npmjs.org/{word}/-/{word}-{ver}.tgz",'), (3, 10), negative_only=True)
spec("versions_and_ids", 1.2, ("Python", "Go", "JavaScript", "YAML"), "", ('VERSION = "{version}"',
      'request_id = "{uuid}"', 'NETMASK = "{netmask}"', 'assert not is_valid_ip("{badip}")',
      "commit {hex:40}", 'msg["Message-ID"] = "<{msgid}>"', "george = Node()", "@{word}/{word}-plugin",
      "sha256: {hex}", "user_id = {n}", "# {phrase}", 'client_id = "{n}-{hex:24}.apps.googleusercontent.com"',
      "kid: {hex:16}", "publishable_key: {pk}"), (4, 12), negative_only=True)
spec("detector_rules", 0.6, ("Go", "Python", "TOML"), "",
     ("\tRegex: regexp.MustCompile(`(?i)aws_secret_access_key\\s*=\\s*[A-Za-z0-9/+]{40}`),",
      'id = "{word}-api-key"', "regex = '''xox[baprs]-[0-9a-zA-Z]{10,48}'''", '\t\t"AKIAZZZZZZZZZZZZZZZZ",',
      "# {phrase}", 'keywords = ["password", "secret", "token"]'), (3, 8), negative_only=True)
spec("placeholder_docs", 0.8, ("Markdown", "Text"), "## Configuration\n",
     ("Set `DB_PASSWORD` to `<password>` and `API_KEY` to `YOUR_API_KEY`.",
      "| `SMTP_PASSWORD` | `${SMTP_PASSWORD}` |", "    export TOKEN=<your-token>",
      "    password: {{ password }}", "Replace `[USERNAME]` with your login.",
      "    curl -u admin:$PASSWORD https://localhost/", "{phrase}."), (3, 8), negative_only=True)


# -- the cases ----------------------------------------------------------------------------------------
def case_of(doc: Doc, *, case_id: str, language: str, source: str, license_: str = "CC0-1.0"
            ) -> dict[str, object]:
    """A case of a built document (entities sorted, with value, flags and ``ip_scope``)."""
    entities = []
    for start, val in doc.entities:
        e: dict[str, object] = {"start": start, "end": start + len(val.value), "label": val.label,
                                "value": val.value}
        if val.dummy:
            e["dummy"] = True
        if val.example:
            e["example"] = True
        if val.label == IP_ADDRESS:
            e["ip_scope"] = ip_scope(val.value)
        entities.append(e)
    return {"id": case_id, "text": doc.text(), "language": language, "source": source, "license": license_,
            "entities": entities}


def generate(count: int, seed: int = 0) -> Iterator[dict[str, object]]:
    """``count`` labelled cases, the same ones for the same ``seed``."""
    weights, only = tpl.WEIGHTS, tpl.NEGATIVE_ONLY
    positive, every = tuple(name for name in TEMPLATES if name not in only), tuple(TEMPLATES)
    pos_cum = tuple(accumulate(weights[name] for name in positive))
    neg_cum = tuple(accumulate(weights[name] * (3.0 if name in only else 1.0) for name in every))
    gen = Gen(seed)
    for index in range(count):
        gen.reset(index)
        names, cum = (every, neg_cum) if gen.neg else (positive, pos_cum)
        name = gen.rng.choices(names, cum_weights=cum)[0]
        doc = Doc()
        language = TEMPLATES[name](gen, doc)
        for _ in range(doc.text().count("\n"), 5):  # at least five lines
            doc.line(tpl.filler(gen, language))
        yield case_of(doc, case_id=f"syn-{seed}-{index:06d}", language=language, source=f"synthetic:{name}")


def write_cases(path: Path, count: int, seed: int = 0) -> dict[str, int]:
    """Write ``generate(count, seed)`` as JSONL to ``path`` (atomically); counts per label and ``cases``."""
    counts = Counter({label: 0 for label in LABELS})
    lines = []
    for case in generate(count, seed):
        entities: list[dict[str, object]] = case["entities"]  # type: ignore[assignment]
        counts.update(str(e["label"]) for e in entities)
        lines.append(json.dumps(case, ensure_ascii=False) + "\n")
    write_atomic(Path(path), "".join(lines).encode("utf-8"))
    return {**counts, "cases": count}
