"""Who is calling and what they may do.

* :mod:`access.principal`: roles and the principal (an API key or a person);
* :mod:`access.permissions`: the role table, who may do what;
* :mod:`access.security`: API keys, people's passwords, sessions, CSRF tokens and the
  login limit, on the tables of :mod:`access.tables`.

How a request's credentials are read (headers, cookies) is HTTP and lives in
``api/security.py``.
"""
