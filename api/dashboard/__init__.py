"""The operator's dashboard (docs/api.md, "The dashboard"): a static page and its script, served by the
API at `/dashboard`, that read the REST endpoints and the `/stream` WebSocket with the user's token. No build
step and nothing from a CDN (the machines it runs on may have no internet): plain HTML, CSS and JavaScript
in `static/`, and the few reads only the dashboard needs in `reads`."""
