"""Server-rendered editor pages: Jinja2 templates, static files, login and shared page helpers."""
