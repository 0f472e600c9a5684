"""A Sphinx extension for this book: each <script> once per page, and no Sphinx figure numbers.

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


def _no_figure_numbers(app):
    # The captions carry the paper's own numbers (Fig. 2a, Table III). An extension's config-inited
    # handler turns Sphinx's numfig back on whatever _config.yml says (which put "Fig. 7" before
    # "Fig. 2a"), so it is switched off once the builder is set up, before any page is read.
    app.config.numfig = False


def setup(app):
    app.connect("builder-inited", _no_figure_numbers)
    app.connect("html-page-context", _unique, priority=100)  # early: html-page-context stops at the first handler returning a value
    return {"parallel_read_safe": True, "parallel_write_safe": True}
