"""A Sphinx extension for this book: each <script> once per page.

sphinx-thebe (loaded by Jupyter Book 1) registers its inline configuration script on every
env-before-read-docs event, which fires more than once in a Jupyter Book build; the page then
declares `const THEBE_JS_URL` twice and the browser reports a SyntaxError on every page.
"""


def _unique(app, pagename, templatename, context, doctree):
    scripts, seen = [], set()
    for js in context.get("script_files", []):
        key = (getattr(js, "filename", str(js)) or "", tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            scripts.append(js)
    # In place: the list is the builder's, to which later handlers (e.g. MathJax's) still add.
    context["script_files"][:] = scripts


def setup(app):
    app.connect("html-page-context", _unique, priority=100)  # early: html-page-context stops at the first handler returning a value
    return {"parallel_read_safe": True, "parallel_write_safe": True}
