"""Remove secrets from message text before anything is stored.

The rules are the table ``SCRUB_RULES`` below, in layers that do not depend on grouping (with
``fingerprinting=False`` nothing leaks): (1) provider token formats, from the shapes the public
secret-scanner rule sets document (``PROVIDER_TOKENS``); (2) values of secret-looking keys,
wherever the secret word sits in the key and whatever its case or separators; (3) command-line
and prose forms; (4) ``Authorization`` headers; (5) credentials in URLs; (6) PEM private keys,
JWTs and card numbers. A value that is never a secret (empty, ``None``, ``${VAR}``, ``%s``...)
is left alone. ``TrackerConfig(disabled_rules=..., extra_scrub_rules=...)`` removes or adds rules
by name. The whole value goes, up to its end: a ``,`` or ``&`` inside it does not stop it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from .ruletable import Rule, RuleSet, select_rules

__all__ = ["PROVIDER_TOKENS", "REDACTED", "SCRUB_RULES", "Rule", "build_scrubber", "scrub_secrets"]

REDACTED = "[REDACTED]"

# -- (1) provider tokens ----------------------------------------------------------------------
# (provider, prefix, body): the prefix is kept (it says what leaked), the body redacted.
# Facts only (prefixes, lengths, alphabets) from public rule sets such as gitleaks' and
# trufflehog's detectors; see tests/corpus/SOURCES.md.
_A = "A-Za-z0-9"
PROVIDER_TOKENS: tuple[tuple[str, str, str], ...] = (
    ("GitHub personal token", "ghp_", f"[{_A}]{{36,255}}"),
    ("GitHub OAuth token", "gho_", f"[{_A}]{{36,255}}"),
    ("GitHub user-to-server token", "ghu_", f"[{_A}]{{36,255}}"),
    ("GitHub server-to-server token", "ghs_", f"[{_A}]{{36,255}}"),
    ("GitHub refresh token", "ghr_", f"[{_A}]{{36,255}}"),
    ("GitHub fine-grained token", "github_pat_", f"[{_A}_]{{22,255}}"),
    ("GitLab personal token", "glpat-", f"[{_A}_-]{{20,64}}"),
    ("GitLab deploy token", "gldt-", f"[{_A}_-]{{20,64}}"),
    ("GitLab runner token", "glrt-", f"[{_A}_-]{{20,64}}"),
    ("GitLab runner registration token", "GR1348941", f"[{_A}_-]{{20,64}}"),
    ("GitLab CI job token", "glcbt-", f"[{_A}_-]{{20,64}}"),
    ("GitLab pipeline trigger token", "glptt-", f"[{_A}_-]{{20,64}}"),
    ("GitLab feed token", "glft-", f"[{_A}_-]{{20,64}}"),
    ("GitLab incoming mail token", "glimt-", f"[{_A}_-]{{20,64}}"),
    ("GitLab agent token", "glagent-", f"[{_A}_-]{{50,64}}"),
    ("GitLab OAuth secret", "gloas-", f"[{_A}_-]{{64}}"),
    ("GitLab SCIM token", "glsoat-", f"[{_A}_-]{{20,64}}"),
    ("GitLab feature-flag token", "glffct-", f"[{_A}_-]{{20,64}}"),
    ("AWS access key id", "(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])", "[A-Z0-9]{16}"),
    ("AWS other key ids", "(?:AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)", "[A-Z0-9]{16}"),
    ("Google API key", "AIza", "[0-9A-Za-z_-]{35}"),
    ("Google OAuth access token", "ya29\\.", "[0-9A-Za-z_-]{20,}"),
    ("Google OAuth client secret", "GOCSPX-", "[0-9A-Za-z_-]{28}"),
    ("Slack bot token", "xoxb-", "[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9-]{0,40}"),
    ("Slack user token", "xox[pe]-", "[0-9]{10,13}-[0-9]{10,13}-[0-9]{10,13}-[a-z0-9]{20,40}"),
    ("Slack app token", "xapp-", "[0-9]-[A-Z0-9]{9,12}-[0-9]{10,14}-[a-z0-9]{20,80}"),
    ("Slack config token", "xoxe\\.xox[bp]-", "[0-9]-[A-Z0-9]{100,200}"),
    ("Slack legacy tokens", "xox[aors]-", "[0-9A-Za-z-]{10,100}"),
    ("Slack webhook", "hooks\\.slack\\.com/(?:services|workflows|triggers)/", "[A-Za-z0-9+/]{40,120}"),
    ("Stripe secret key", "sk_(?:live|test)_", f"[{_A}]{{10,247}}"),
    ("Stripe restricted key", "rk_(?:live|test)_", f"[{_A}]{{10,247}}"),
    ("Stripe webhook secret", "whsec_", f"[{_A}]{{20,64}}"),
    ("OpenAI key", "sk-(?:proj-|svcacct-|admin-)?", f"[{_A}_-]{{20,200}}"),
    ("Anthropic key", "sk-ant-(?:api|admin)0[0-9]-", f"[{_A}_-]{{80,120}}"),
    ("SendGrid key", "SG\\.", f"[{_A}_-]{{22}}\\.[{_A}_-]{{43}}"),
    ("Twilio API key", "SK", "[0-9a-fA-F]{32}"),
    ("Twilio account SID", "AC", "[0-9a-f]{32}"),
    ("Square access token", "(?:EAAA|sq0atp-)", f"[{_A}_-]{{22,60}}"),
    ("Square OAuth secret", "sq0csp-", f"[{_A}_-]{{43}}"),
    ("Shopify access token", "shpat_", "[a-fA-F0-9]{32}"),
    ("Shopify custom app token", "shpca_", "[a-fA-F0-9]{32}"),
    ("Shopify private app token", "shppa_", "[a-fA-F0-9]{32}"),
    ("Shopify shared secret", "shpss_", "[a-fA-F0-9]{32}"),
    ("PyPI upload token", "pypi-AgEIcHlwaS5vcmc", f"[{_A}_-]{{50,}}"),
    ("Test PyPI token", "pypi-AgENdGVzdC5weXBpLm9yZw", f"[{_A}_-]{{50,}}"),
    ("npm access token", "npm_", f"[{_A}]{{36}}"),
    ("Docker Hub personal token", "dckr_pat_", f"[{_A}_-]{{27}}"),
    ("Docker Hub org token", "dckr_oat_", f"[{_A}_-]{{32}}"),
    ("DigitalOcean personal token", "dop_v1_", "[a-f0-9]{64}"),
    ("DigitalOcean OAuth token", "doo_v1_", "[a-f0-9]{64}"),
    ("DigitalOcean refresh token", "dor_v1_", "[a-f0-9]{64}"),
    ("HashiCorp Vault service token", "hvs\\.", f"[{_A}_-]{{24,}}"),
    ("HashiCorp Vault batch token", "hvb\\.", f"[{_A}_-]{{24,}}"),
    ("HashiCorp Vault recovery token", "hvr\\.", f"[{_A}_-]{{24,}}"),
    ("Terraform Cloud token", "[A-Za-z0-9]{14}\\.atlasv1\\.", f"[{_A}=_-]{{60,70}}"),
    ("Doppler token", "dp\\.(?:pt|st|sa|ct|scim|audit)\\.", f"[{_A}]{{40,44}}"),
    ("Databricks token", "dapi", "[a-f0-9]{32}(?:-[0-9])?"),
    ("Grafana Cloud token", "glc_", f"[{_A}+/]{{32,400}}={{0,2}}"),
    ("Grafana service account token", "glsa_", f"[{_A}]{{32}}_[A-Fa-f0-9]{{8}}"),
    ("Hugging Face token", "hf_", "[A-Za-z]{34}"),
    ("Hugging Face org token", "api_org_", "[A-Za-z]{34}"),
    ("New Relic user key", "NRAK-", "[A-Z0-9]{27}"),
    ("New Relic insert key", "NRII-", "[A-Za-z0-9_-]{32}"),
    ("New Relic browser key", "NRJS-", "[a-f0-9]{19}"),
    ("New Relic admin key", "NRAA-", "[a-f0-9]{27}"),
    ("Sentry user token", "sntryu_", "[a-f0-9]{64}"),
    ("Sentry org token", "sntrys_", "[A-Za-z0-9+/=_]{60,}"),
    ("age secret key", "AGE-SECRET-KEY-1", "[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    ("Atlassian API token", "ATATT3", f"[{_A}_=-]{{186}}"),
    ("Atlassian Connect token", "ATCTT3", f"[{_A}_=-]{{100,}}"),
    ("Bitbucket app password", "ATBB", f"[{_A}]{{32}}"),
    ("Linear API key", "lin_api_", f"[{_A}]{{40}}"),
    ("Postman API key", "PMAK-", "[a-f0-9]{24}-[a-f0-9]{34}"),
    ("Pulumi token", "pul-", "[a-f0-9]{40}"),
    ("Prefect token", "pnu_", f"[{_A}]{{36}}"),
    ("Planetscale password", "pscale_pw_", f"[{_A}_.-]{{32,64}}"),
    ("Planetscale token", "pscale_tkn_", f"[{_A}_.-]{{32,64}}"),
    ("Planetscale OAuth token", "pscale_oauth_", f"[{_A}_.-]{{32,64}}"),
    ("Shippo token", "shippo_(?:live|test)_", "[a-f0-9]{40}"),
    ("Dynatrace token", "dt0c01\\.", "[A-Z0-9]{24}\\.[A-Z0-9]{64}"),
    ("Mailchimp key", "[0-9a-f]{32}-us", "[0-9]{1,2}"),
    ("Mailgun key", "key-", "[0-9a-f]{32}"),
    ("Mailgun pub key", "pubkey-", "[0-9a-f]{32}"),
    ("Postmark / generic v1", "postmark_", "[0-9a-f-]{36}"),
    ("Fly.io token", "fo1_", f"[{_A}_-]{{43}}"),
    ("Fly.io macaroon", "fm[12][ar]?_", f"[{_A}+/=_-]{{100,}}"),
    ("Frame.io token", "fio-u-", f"[{_A}_=-]{{64}}"),
    ("Adafruit IO key", "aio_", f"[{_A}]{{28}}"),
    ("Airtable PAT", "pat", "[A-Za-z0-9]{14}\\.[a-f0-9]{64}"),
    ("Alibaba access key", "LTAI", f"[{_A}]{{20}}"),
    ("Clojars token", "CLOJARS_", "[a-z0-9]{60}"),
    ("Contentful token", "CFPAT-", f"[{_A}_-]{{43}}"),
    ("Duffel token", "duffel_(?:test|live)_", f"[{_A}_=-]{{43}}"),
    ("EasyPost token", "EZ[AT]K", f"[{_A}]{{54}}"),
    ("Flutterwave key", "FLW(?:SECK|PUBK)_TEST-", "[a-h0-9]{32}-X"),
    ("Frame.io / generic", "fio-", f"[{_A}_=-]{{64}}"),
    ("Harness token", "pat\\.", f"[{_A}_-]{{22}}\\.[0-9a-f]{{24}}\\.[{_A}]{{20}}"),
    ("Intra42 secret", "s-s4t2(?:ud|af)-", "[a-f0-9]{64}"),
    ("JFrog reference token", "cmVmd", f"[{_A}]{{59}}"),
    ("Lob key", "(?:live|test)_(?:pub_)?", "[a-f0-9]{31,35}"),
    ("MaxMind key", "[A-Za-z0-9]{6}_", f"[{_A}]{{29}}_mmk"),
    ("Notion token", "ntn_", f"[{_A}]{{46}}"),
    ("Notion secret", "secret_", f"[{_A}]{{43}}"),
    ("1Password service token", "ops_eyJ", f"[{_A}+/=]{{250,}}"),
    ("OpenShift token", "sha256~", f"[{_A}_-]{{43}}"),
    ("Readme key", "rdme_", "[a-z0-9]{70}"),
    ("RubyGems key", "rubygems_", "[a-f0-9]{48}"),
    ("Scalingo token", "tk-us-", f"[{_A}_-]{{48}}"),
    ("Settlemint token", "sm_(?:pat|aat|sat)_", f"[{_A}]{{16}}"),
    ("Sourcegraph token", "sgp_", "(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}"),
    ("Typeform token", "tfp_", f"[{_A}_.=-]{{59}}"),
    ("Yandex key", "AQVN", f"[{_A}_-]{{35,38}}"),
    ("Zendesk / generic v2", "zd_", f"[{_A}]{{40}}"),
    ("Octopus Deploy key", "API-", "[A-Z0-9]{26}"),
    ("Infracost key", "ico-", f"[{_A}]{{32}}"),
    ("Heroku v2 key", "HRKU-AA", f"[{_A}_-]{{58}}"),
    ("Cloudflare origin CA key", "v1\\.0-", "[a-f0-9]{24}-[a-f0-9]{146}"),
    ("Azure AD client secret", "[a-zA-Z0-9_~.]{3}\\dQ~", "[a-zA-Z0-9_~.-]{31,34}"),
    ("Azure storage account key", "AccountKey=", f"[{_A}+/]{{86,88}}={{0,2}}"),
    ("Azure SAS signature", "sig=", "[A-Za-z0-9%+/]{40,}(?:%3D|=){0,2}"),
    ("Discord bot token", "[MNO][A-Za-z0-9_-]{23,25}\\.", "[A-Za-z0-9_-]{6}\\.[A-Za-z0-9_-]{27,38}"),
    ("Telegram bot token (in its URL)", "bot[0-9]{8,10}:", "[A-Za-z0-9_-]{35}"),
    ("Telegram bot token (bare)", "[0-9]{8,10}:AA", "[A-Za-z0-9_-]{33}"),
    ("Artifactory key", "AKC", f"[{_A}]{{69,}}"),
    ("Beamer key", "b_", f"[{_A}=_-]{{44}}"),
    ("Confluent / generic", "cflt", f"[{_A}+/]{{60}}"),
    ("Coinbase / generic", "organizations/", "[0-9a-f-]{36}/apiKeys/[0-9a-f-]{36}"),
)

_TOKEN_END = r"(?![A-Za-z0-9_-])"


def _provider_pattern() -> str:
    lines = [r"(?<![A-Za-z0-9])(?:"]
    for index, (provider, prefix, body) in enumerate(PROVIDER_TOKENS):
        bar = "|" if index else " "
        lines.append(f"  {bar} (?:{prefix}){body}   # {provider}")
    # the rest of the token goes too (a routable GitLab token's ".01.abc", a longer key)
    lines.append(r")(?:[A-Za-z0-9_=+-]|\.(?=[A-Za-z0-9])){0,256}+" + _TOKEN_END)
    return "\n".join(lines)


_PROVIDER_PREFIX = re.compile("|".join(f"(?:{prefix})" for _, prefix, _ in PROVIDER_TOKENS))


def _keep_prefix(token: str) -> str:
    """``[REDACTED]`` after the token's public prefix, which says which service leaked."""
    prefix = _PROVIDER_PREFIX.match(token)
    return (prefix.group() if prefix is not None else "") + REDACTED


# -- (2) key names, (3) command lines, (4) headers --------------------------------------------
# A secret word is a part of the key: after its start, an underscore, dash, dot or a camelCase
# capital, and ending where the part ends (DB_PASSWORD_PROD, mySecretString, _gitlab_session,
# X-Api-Key). Checked case-insensitively.
_SECRET_PART = r"""(?i:
    pass(?:word|wd|phrase|code)?s? | pwd | secret | token | api[_.-]?key | access[_.-]?key
  | private[_.-]?key | secret[_.-]?key | auth(?:orization|[_-]?token)? | credentials? | creds?
  | signature | hmac(?:[_-]?key)? | jwt | session(?:[_-]?id)? | sess(?:ion)?id | cookie
  | client[_-]?secret | dsn | conn(?:ection)?[_-]?string
)"""
# The first two letters of every word of _SECRET_PART, case-sensitive: a case-insensitive list
# of words is slow to fail, and most word starts are not secret words (pass pwd private, secret
# session signature, token, api access auth, credentials cookie client conn, hmac, jwt, dsn).
# (Case-insensitive matching also takes \u0130 and \u0131 for an i, \u017f for an s.)
_I, _S = r"Ii\u0130\u0131", r"Ss\u017f"
_SECRET_FIRST_TWO = (
    rf"[Pp][AaWwRr]|[Ss][Ee{_I}]|[Tt][Oo]|[Aa][PpCcUu]|[Cc][RrOoLl]|[Hh][Mm]|[Jj][Ww]|[Dd][{_S}]"
)
# Short names that are a secret only as the last part of a key: hmac_key, X-Sig, bare key=...
_SHORT_PART = r"(?i:key|sig|sid|otp|pin|salt)"
# The part ends there: not followed by a lowercase letter, nor by a capital after a capital.
_PART_END = r"(?![a-z])(?!(?<=[A-Z])[A-Z])"
# Parts before the secret word that make a key a description (public_key, primaryKey, csrf_token).
_NOT_SECRET_WORDS_BEFORE = (
    "pub",
    "csrf",
    "xsrf",
    "sort",
    "cache",
    "public",
    "bucket",
    "schema",
    "primary",
    "foreign",
    "sequence",
)


def _not_after_words(words: Sequence[str]) -> str:
    """Negative look-behinds for ``words`` (with an optional ``_``, ``.`` or ``-``), one per width."""
    by_width: dict[int, list[str]] = {}
    for word in words:
        by_width.setdefault(len(word), []).append(word)
        by_width.setdefault(len(word) + 1, []).append(word + "[_.-]")
    return "".join(f"(?<!(?i:{'|'.join(alts)}))" for _, alts in sorted(by_width.items()))


_NOT_SECRET_BEFORE = _not_after_words(_NOT_SECRET_WORDS_BEFORE)
# Parts after it that make a key a description rather than a secret: token_type, max_tokens.
_NOT_SECRET_SUFFIX = r"""(?i:
    [_.-]?(?:type|id|ids|name|names|count|len|length|size|limit|min|max|expir\w*|ttl|url|uri|path|file
          |field|policy|hint|reset|rotation|version|format|algorithm|alg|prefix|index|label|header|param
          |error|exception|warning|invalid|expired|missing|required|mismatch|not|manager|store|provider
          |source|variable|var|env|endpoint|hash|selector|press(?:ed)?|board|event|handler|mode|enabled)
    (?![a-z]) | s[_.-]?(?:count|used|limit)
)"""
# Values that are never a secret: empty, None, YES/NO, booleans, templates and placeholders.
_NOT_A_SECRET = r"""(?:
    (?i:none|null|nil|undefined|yes|no|true|false|n/a|redacted|hidden|masked|required|missing|invalid)
        (?![\w.-]|[ ]?[\w-]{1,20}[=:])
  | \$\{[^}\s]{0,64}\} | \$[A-Za-z_][A-Za-z0-9_]{0,64} | %[sdr] | %\([\w.-]{1,64}\)[sdr]
  | \{[\w.-]{0,64}\} | \{\{[^}]{0,64}\}\} | \*{3,} | x{3,} | X{3,} | <[^<>\s]{1,40}> | \[REDACTED\] | \[ | \(
  | \.\.\.  | \?(?:\W|$)
)"""
# An unquoted value: up to a space, quote or closing bracket; a ",", ";" or "&" inside it
# belongs to it unless a new key (or a space) follows: "p@ss,w&rd" stays whole, "a&user=b" not.
_VALUE = r"""(?:
    [^\s"'`,;&)\]}<\\]
  | [,;&](?![\s]|[\w.-]{1,40}=|$)
  | [)\]}](?![\s,;)\]}"'`]|$)
  | \\(?![nrt"'\\])                # a backslash, but not an escaped newline or quote ending the value
){1,512}"""
_KEY_END = rf"""(?!{_NOT_SECRET_SUFFIX})[\w.-]{{0,40}}?(?<![_.-])"""
# What joins a key to its value, in config files, code and logs (gitleaks' sample formats):
# = : => := ::= :::= ?= .= |= += ||, "KEY", "value" (after a quoted key), <key>value (XML),
# and a type between name and "=" (Go: var apiToken string = "...").
_ASSIGN = r"""(?:
    \\?["'`]? [ \t]{0,3}
    (?: (?:[ \t]+(?:string|String|str|bytes|\[\]byte|char[ ]?\*|std::string|Secret)[ \t]*)?   # a Go type
        (?:=>?|:{1,3}=|[?.|+]=|\|\|)                                       # = => := ::= ?= .= ||
      | :(?!:)                                                             # key: value, "key": "value"
      | (?<=["'`])[ \t]{0,3},                                              # setProperty("KEY", "value")
    )
  | >\s{0,6}                                                               # <apiToken>value</apiToken>
)[ \t]{0,6}"""

# A cheap first test: the word is followed by something that can join it to a value.
_JOINED = r"""[\w.-]{1,60}+(?:\\?["'`])?[ \t]{0,3}
              (?:[=:>,?.|+]|(?:string|String|str|bytes|\[\]byte|char|std::|Secret)\W)"""
_QUOTED_VALUE = r"""
      (?<=\\") (?:[^"\\\n]|\\[^"\n]){1,512}      # {\"password\": \"x\"}
    | (?<=") (?:[^"\\\n]|\\.){1,512}            # "password": "p@ss w0rd"
    | (?<=') (?:[^'\\\n]|\\.){1,512}
    | (?<=`) [^`\n]{1,512}
"""
_AFTER_COLON = r"(?:(?<=:)|(?<=:\s)|(?<=:\s\s)|(?<=:\s\s\s))"
_NOT_AFTER_COLON = r"(?<!:)(?<!:\s)(?<!:\s\s)(?<!:\s\s\s)"

_KEY_VALUE = rf"""
    (?={_SECRET_FIRST_TWO})                        # the first two letters of a secret word: the cheapest test
    (?={_JOINED})                                  # something joins the key: a cheap second test
    {_NOT_SECRET_BEFORE}
    (?P<pre> {_SECRET_PART} {_PART_END} (?!{_NOT_SECRET_SUFFIX}) [\w.-]{{0,40}}?(?<![_.-])
        {_ASSIGN}                                    # DB_PASSWORD_PROD=, mySecretString: , "api_key": "
        (?:\\?["'`])?                                # an opening quote stays
    )
    (?!{_NOT_A_SECRET})
    (?: {_QUOTED_VALUE}
      # after a plain colon the value must look like a secret: "token: expired" is prose
      | {_AFTER_COLON} (?=[^\s]{{0,511}}[\d!#$%^&*+/=~@]|[^\s]{{20}}) {_VALUE}
      | {_NOT_AFTER_COLON} (?=[^\s]{{2}}) {_VALUE}    # password=s3cr3t, token=a,b&c, x = y
    )
"""

_SHORT_KEY_VALUE = rf"""
    (?=[Kk][Ee]|[Ss][Aa{_I}]|[Oo][Tt]|[Pp][{_I}])   # key, sig, sid, salt, otp, pin: the cheapest test
    (?={_JOINED})
    {_NOT_SECRET_BEFORE}
    (?P<pre> {_SHORT_PART} {_PART_END} {_ASSIGN} (?:\\?["'`])? )   # hmac_key=, X-Sig: , key="
    (?!{_NOT_A_SECRET})
    (?=[^\s"'`.,;&/<]{{0,511}}\d)(?=[^\s"'`.,;&/<]{{4}})          # a random-looking value: a digit, no dot
    [^\s"'`.,;&/<)\]}}]{{4,512}}+(?![.\w/])                        # (not key="jetbrains.mps.v8")
"""

_AUTHORIZATION = (
    r"""
    (?=[Aa][Uu]|[Pp][Rr]|[Xx]-)                    # authorization, proxy-authorization, x-: the cheapest test
    (?=[\w-]{1,40}+["'`]?\s{0,3}[:=])                # a separator ends the header name
    (?P<pre>(?i:(?:proxy-)?authorization|x-(?:api|auth)-(?:key|token)) ["'`]? \s{0,3} [:=] \s{0,3} ["'`]?)
    (?! (?i:[a-z][\w-]{0,30}[ ]+realm=) )         # WWW-Authenticate-style challenges
    (?!"""
    + _NOT_A_SECRET
    + r""")
    (?:[A-Za-z][\w-]{0,30}[ ]+)?                  # the scheme: Bearer, Basic, Bot, SSWS, Api-Token...
    [^\s"'`,;]{1,1024}(?:,[ ]?[\w-]{1,30}="[^"\n]{0,256}")*   # the credential (Digest's parts too)
"""
)

_BEARER = r"""
    (?P<pre>(?<![\w-])(?:Bearer|bearer|BEARER|Token|token)[ ]+)
    (?=[A-Za-z0-9._~+/-]{0,1024}[0-9._~+/-])      # not a plain word: "Bearer token expired"
    [A-Za-z0-9._~+/-]{12,1024}=*(?![\w=])
"""

_CLI_OPTION = (
    r"""
    (?P<pre>(?<![\w-])--(?:password|passwd|pass|pwd|token|secret|api-?key|access-token|auth-token
                          |client-secret|secret-key|access-key|private-key|key|db-password|sudo-password)
        (?:=|[ ]+)["']?)
    (?!-|"""
    + _NOT_A_SECRET
    + r""")
    [^\s"']{1,512}
"""
)

_CLI_USER = r"""
    (?P<pre>(?<![\w-])(?:--user|-u|--proxy-user|--basic-auth)
        (?:=|[ ]+|(?=[\w.@-]{1,64}:))["']?[\w.@+-]{1,64}:)
    [^\s"'@/]{1,512}(?!@)                      # curl --user alice:s3cret, -u alice:s3cret
"""

_CLI_SHORT = r"""
    (?P<pre>(?<![\w-])(?: sshpass[ ]-p[ ]? | redis-cli[^\n|;&]{0,160}?[ ]-a[ ]?
                       | (?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)
                         [^\n|;&]{0,160}?[ ](?:-p|--password=) ))
    (?!-|\s)[^\s"']{1,512}      # mysql -u root -pS3cret, sshpass -p s3cret, redis-cli -a s3cret
"""

_PROSE = (
    r"""
    (?=[Pp][Aa]|[Ss][Ee]|[Aa][PpCc]|[Tt][Oo])      # password passwd passphrase, secret, api access, token
    (?P<pre>(?i:password|passwd|passphrase|secret|api[ _-]?key|access[ _-]?token|token)
        (?:[ ](?:is|was|=))?[ ]+)
    (?!"""
    + _NOT_A_SECRET
    + r""")
    (?=[^\s]{0,255}[\d!#$%^&*+/=~@])[^\s"',;]{6,256}(?<![.,;:!?])    # password hunter22, secret is Xy!9z0q
"""
)

_URL_USERINFO = r"""(?P<pre>://)[^\s/?#@"'<>]{1,256}(?P<post>@)   # postgres://[REDACTED]@db"""

_URL_QUERY = r"""
    (?P<pre>[?&;](?i:sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential|x-goog-signature
                   |x-goog-credential|token|access_token|refresh_token|id_token|key|api_key|apikey|code
                   |password|pwd|secret|client_secret|auth|sas|skoid|sktid)=)
    [^&\s#"'<>]{1,1024}                             # ?sig=..., &X-Amz-Signature=...
"""

_PEM = r"""
    -----BEGIN[ ](?:[A-Z0-9]+[ ]){0,3}PRIVATE[ ]KEY(?:[ ]BLOCK)?-----
    (?:[^-]|-(?!----END))*                    # the body: up to the END line (or the end of the text)
    (?:-----END[ ](?:[A-Z0-9]+[ ]){0,3}PRIVATE[ ]KEY(?:[ ]BLOCK)?-----)?
"""

_JWT = r"""
    (?<![A-Za-z0-9-])eyJ[A-Za-z0-9_-]{5,4096}\.(?:eyJ|ey|e)?[A-Za-z0-9_-]{2,8192}(?:\.[A-Za-z0-9_-]{0,4096})?
    # eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig, also glued after an underscore: id_eyJ...
"""

_CARD = r"""
    (?<![\w.+-])(?: \d{13,19} | \d{4}(?:[ ]\d{4}){2}[ ]\d{1,7} | \d{4}(?:-\d{4}){2}-\d{1,7}
                  | \d{4}[ -]\d{6}[ -]\d{5} )(?![\w-]|\.\d)
"""


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position & 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _redact_card(candidate: str) -> str:
    digits = candidate.replace(" ", "").replace("-", "")
    return REDACTED if 13 <= len(digits) <= 19 and _luhn_valid(digits) else candidate


SCRUB_RULES: tuple[Rule, ...] = (
    Rule(
        "pem_private_key",
        _PEM,
        REDACTED,
        "a private key block, header to footer (or to the end of a cut message)",
        starts="-",
        gate="dash",
    ),
    Rule("jwt", _JWT, REDACTED, "a signed token: header.payload.signature", starts="e", gate="token_run"),
    Rule(
        "provider_token",
        _provider_pattern(),
        _keep_prefix,
        "tokens whose format says which service they belong to (their public prefix is kept)",
        starts="A-Za-z0-9",
        gate="token_run",
    ),
    Rule(
        "authorization_header",
        _AUTHORIZATION,
        REDACTED,
        "Authorization: <scheme> <credential>: the whole value goes, whatever the scheme",
        starts="AaPpXx",
        gate="key_value",
    ),
    Rule("url_userinfo", _URL_USERINFO, REDACTED, "scheme://user:password@host", starts=":"),
    Rule(
        "url_query_secret",
        _URL_QUERY,
        REDACTED,
        "signatures and tokens in query strings (S3 presigned, Azure SAS, OAuth)",
        starts="?&;",
    ),
    Rule("cli_option", _CLI_OPTION, REDACTED, "--password X, --token=X", starts="-", gate="dash"),
    Rule("cli_user", _CLI_USER, REDACTED, "curl --user alice:s3cret", starts="-", gate="dash"),
    Rule(
        "cli_short_password",
        _CLI_SHORT,
        REDACTED,
        "mysql -pS3cret, sshpass -p X, redis-cli -a X",
        starts="mspr",
        gate="client",
    ),
    Rule(
        "secret_key_value",
        _KEY_VALUE,
        REDACTED,
        "the value of a key whose name has a secret word in it, in any case and separator style",
        starts="PpSsTtAaKkCcHhJjOoBbDd",
        gate="key_value",
    ),
    Rule(
        "short_key_value",
        _SHORT_KEY_VALUE,
        REDACTED,
        "a random-looking value of a key whose last part is key, sig, sid, otp, pin or salt",
        starts="KkSsOoPp",
        gate="key_value",
    ),
    Rule("bearer_token", _BEARER, REDACTED, "a bare Bearer credential in prose", starts="BbTt", gate="prose"),
    Rule(
        "secret_in_prose",
        _PROSE,
        REDACTED,
        "password hunter22, secret is Xy!9z: a secret word, a space, a secret",
        starts="PpSsAaTt",
        gate="prose",
    ),
    Rule("card_number", _CARD, _redact_card, "Luhn-valid card numbers", starts="0-9", gate="card_digits"),
)

# -- gates: cheap tests of the whole text; a rule behind a failed gate is not tried ---------------
SCRUB_GATES = ("token_run", "card_digits", "key_value", "prose", "dash", "client")
_TOKEN_RUN, _CARD_DIGITS, _KEY_VALUE_G, _PROSE_G, _DASH, _CLIENT = (1 << i for i in range(len(SCRUB_GATES)))
# One byte translation shows runs: letters, digits and "_" become "a", digits also "1"
# in the second map (with " " and "-" as "-"), everything else a space.
_RUN_MAP = bytes(
    0x61 if chr(i).isascii() and (chr(i).isalnum() or chr(i) == "_") else 0x20 for i in range(256)
)
_DIGIT_MAP = bytes(
    0x31 if chr(i).isdigit() and i < 128 else 0x2D if chr(i) in " -" else 0x20 for i in range(256)
)
# Parts of secret key names (as in _SECRET_PART) besides the prose rules' words (pass, secret,
# token, api, bearer), which scrub_gates checks first.
_SECRET_WORDS = (
    "key", "pwd", "auth", "cred", "sig", "hmac", "jwt", "sess", "sid", "cookie", "otp", "pin", "salt",
    "dsn", "conn",
)  # fmt: skip
_CLIENTS = ("mysql", "mariadb", "sshpass", "redis-cli")


def scrub_gates(text: str) -> int:
    """Bit mask of the gates ``text`` passes (bit ``i``: ``SCRUB_GATES[i]``)."""
    key = 0
    encoded = text.encode("utf-8", "surrogatepass")
    if b"aaaaaaaaaaaaaaaa" in encoded.translate(_RUN_MAP):  # 16 in a row: a provider token, a JWT
        key = _TOKEN_RUN
    digits = encoded.translate(_DIGIT_MAP)
    # 13 digits in a row once single separators are gone: "4111 1111 1111 1111", "378282246310005"
    if b"1111" in digits and b"1111111111111" in digits.replace(b"1-1", b"11"):
        key |= _CARD_DIGITS
    low = text.lower()
    prose = "pass" in low or "secret" in low or "token" in low or "api" in low or "bearer" in low
    if prose:
        key |= _PROSE_G
    joined = "=" in text or ":" in text or "," in text or ">" in text  # something can join a key to a value
    if joined and (prose or any(word in low for word in _SECRET_WORDS)):
        key |= _KEY_VALUE_G
    if "-" in text:  # a PEM header, a command-line option
        key |= _DASH
    if " -" in text and any(client in text for client in _CLIENTS):
        key |= _CLIENT
    return key


def build_scrubber(disabled: Sequence[str] = (), extra: Sequence[Rule] = ()) -> RuleSet:
    """The scrub rules of one configuration, compiled (once per distinct configuration)."""
    return _build(tuple(disabled), tuple(extra))


@functools.lru_cache(maxsize=16)  # providers with the same settings share the compiled rules
def _build(disabled: tuple[str, ...], extra: tuple[Rule, ...]) -> RuleSet:
    return RuleSet(select_rules(SCRUB_RULES, disabled, extra, "scrub"), SCRUB_GATES, scrub_gates)


_DEFAULT = build_scrubber()


def scrub_secrets(text: str) -> str:
    """``text`` with every secret the rules find replaced by ``[REDACTED]``."""
    return _DEFAULT.apply(text)
