"""Réglages Django du back-office opsn, lus dans l'environnement (docs/exploitation.md).

Base embarquée par défaut : SQLite dans le dossier de données ($OPSN_DONNEES ou ./var).
PostgreSQL : DATABASE_URL=postgres://… (testé en intégration continue), le choix pour
plusieurs opérateurs sur une instance.

Variables : OPSN_DONNEES, OPSN_SECRET_KEY, OPSN_DEBUG, OPSN_HOTES, OPSN_HTTPS,
OPSN_HSTS_SECONDES, OPSN_HSTS_PRECHARGEMENT, OPSN_PROXY, OPSN_ORIGINES_CSRF, DATABASE_URL,
OPSN_SQLITE_ATTENTE, OPSN_CONNEXION_ESSAIS, OPSN_CONNEXION_BLOCAGE_MINUTES, OPSN_COURRIEL,
OPSN_COURRIEL_EXPEDITEUR, OPSN_ADRESSE_SITE, OPSN_API_DEBIT, OPSN_DEVIS_DEBIT,
OPSN_CONTACT_DEBIT.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPSN_DONNEES", Path.cwd() / "var")).resolve()


def _secret_key() -> str:
    if os.environ.get("OPSN_SECRET_KEY"):
        return os.environ["OPSN_SECRET_KEY"]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "cle-secrete"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "oui", "true", "yes"}


def _list(name: str, default: str = "") -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


SECRET_KEY = _secret_key()
DEBUG = _flag("OPSN_DEBUG")
ALLOWED_HOSTS = _list("OPSN_HOTES", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "opsn.gestion",
    "opsn.plateforme",
    "opsn.portail",
    "opsn.adherents",
    "opsn.catalogues",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "opsn.plateforme.middleware.HabilitationsMiddleware",
    # Caractère NUL dans l'adresse ou un paramètre : 400 (PostgreSQL ne sait pas le comparer).
    "opsn.gestion.middleware.RejectNulMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "opsn.gestion.audit.AuditActorMiddleware",
    # En dernier (documentation de django-axes) : transforme un blocage en page de connexion.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opsn.web.urls"
WSGI_APPLICATION = "opsn.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "opsn.gestion.views.context",
                "opsn.plateforme.menu.menu",
            ],
            "string_if_invalid": "",
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'opsn.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL : lecteurs et écrivain ne se bloquent pas ; une écriture concurrente attend le
    # verrou (busy_timeout, 30 s par défaut) au lieu d'échouer sur « database is locked ».
    _busy_ms = int(float(os.environ.get("OPSN_SQLITE_ATTENTE", "30")) * 1000)
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        f"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout={_busy_ms};"
    )
    DATABASES["default"]["OPTIONS"]["timeout"] = _busy_ms / 1000
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Tâches de fond (campagnes, archives PDF, imports, exports) : file en base de données
# (django-tasks et son moteur django-tasks-db, API des tâches de Django 6) dans la même base
# que le back-office, SQLite ou PostgreSQL ; exécutée par `opsn travailleur`
# (docs/backoffice.md, « Tâches de fond »). File « documents » : rendus PDF, longs.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "documents"],
    }
}

AUTHENTICATION_BACKENDS = [
    # django-axes d'abord : il refuse la connexion d'un couple identifiant + adresse bloqué.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "connexion"
LOGIN_REDIRECT_URL = "tableau-de-bord"
LOGOUT_REDIRECT_URL = "connexion"

LANGUAGE_CODE = "fr-fr"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = False

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise lit STATIC_ROOT au démarrage (avertissement s'il manque) ; avant le premier
# collectstatic, il sert les fichiers des applications (noms d'origine, voir statiques.py).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise : fichiers compressés (gzip, brotli si présent) et noms hachés, servis avec
    # un cache d'un an ; `opsn serveur` lance collectstatic au démarrage.
    "staticfiles": {"BACKEND": "opsn.plateforme.statiques.StaticFilesStorage"},
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# -- HTTPS (docs/exploitation.md) ---------------------------------------------------------
# OPSN_HTTPS=1 : le site n'est servi qu'en HTTPS (directement ou derrière un mandataire) :
# redirection, cookies sécurisés, HSTS. OPSN_PROXY=1 : un mandataire inverse (nginx, Caddy…)
# termine TLS et transmet X-Forwarded-Proto ; ne l'activer que s'il écrase cet en-tête.
HTTPS = _flag("OPSN_HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("OPSN_HSTS_SECONDES", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and _flag("OPSN_HSTS_PRECHARGEMENT", "1")
if _flag("OPSN_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = False
    AXES_IPWARE_PROXY_COUNT = 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
CSRF_TRUSTED_ORIGINS = _list("OPSN_ORIGINES_CSRF")

# -- Limitation des tentatives de connexion (django-axes) ---------------------------------
# Après OPSN_CONNEXION_ESSAIS échecs (5) pour un même identifiant depuis une même adresse,
# ce couple est bloqué OPSN_CONNEXION_BLOCAGE_MINUTES minutes (15), même avec le bon mot de
# passe ; une connexion réussie remet le compteur à zéro.
AXES_FAILURE_LIMIT = int(os.environ.get("OPSN_CONNEXION_ESSAIS", "5"))
AXES_COOLOFF_TIME = dt.timedelta(
    minutes=float(os.environ.get("OPSN_CONNEXION_BLOCAGE_MINUTES", "15"))
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/login.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Identifiant noté par axes borné à la longueur d'un identifiant (150) : le formulaire de
# connexion de Django ne vérifie pas cette longueur avant d'appeler authenticate, et un
# identifiant de 300 caractères dépassait la colonne d'axes (erreur 500 sous PostgreSQL).
AXES_USERNAME_CALLABLE = "opsn.gestion.forms.axes_username"

# -- Pages d'erreur : gabarits 400.html, 403.html, 404.html, 500.html (opsn.plateforme) ----
# Sans DEBUG, Django n'écrit les erreurs 500 nulle part par défaut (courriel aux ADMINS
# seulement) : elles vont sur la sortie d'erreur, journal de gunicorn ou de systemd.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"simple": {"format": "{asctime} {levelname} {name} : {message}", "style": "{"}},
    "handlers": {"erreurs": {"class": "logging.StreamHandler", "formatter": "simple"}},
    "loggers": {"django.request": {"handlers": ["erreurs"], "level": "ERROR"}},
}

# -- Courriel (avis aux référents, demandes de contact : docs/portail.md) ------------------
# Moteur de courriel de Django : la console par défaut (démonstration : les messages
# s'affichent sur la sortie d'erreur du serveur, jamais dans les résultats d'une commande) ;
# OPSN_COURRIEL=smtp pour un vrai serveur (réglages
# EMAIL_HOST… de Django dans l'environnement : EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER,
# EMAIL_HOST_PASSWORD, EMAIL_USE_TLS).
_MAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "console": "opsn.plateforme.courriel.StderrEmailBackend",
}
if "EMAIL_BACKEND" not in globals():
    EMAIL_BACKEND = _MAIL_BACKENDS.get(
        os.environ.get("OPSN_COURRIEL", "console"), _MAIL_BACKENDS["console"]
    )
    EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = _flag("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("OPSN_COURRIEL_EXPEDITEUR", "opsn <ne-pas-repondre@localhost>")
# Adresse publique du site, pour les liens des courriels (https://opsn.exemple.fr).
OPSN_ADRESSE_SITE = os.environ.get("OPSN_ADRESSE_SITE", "http://127.0.0.1:8000")

# -- Portail public : débits par adresse IP (opsn.portail.limites) -------------------------
OPSN_API_DEBIT = os.environ.get("OPSN_API_DEBIT", "300/m")
OPSN_DEVIS_DEBIT = os.environ.get("OPSN_DEVIS_DEBIT", "30/h")
OPSN_CONTACT_DEBIT = os.environ.get("OPSN_CONTACT_DEBIT", "10/h")
