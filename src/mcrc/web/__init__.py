"""The clinicians' web pages (server-rendered Jinja2, a little vanilla JS, no build step, no CDN).

`install(app, store, settings)` mounts the pages and `/static/` on the API's FastAPI app. Sign-in is
by an API token pasted into a form (checked by `app.state.authenticate`); afterwards a signed,
HttpOnly, SameSite=Strict session cookie holds the user name, and every form POST carries a CSRF
token bound to that session. What a user may do is decided by the store's roles.
"""

from mcrc.web.routes import install

__all__ = ["install"]
