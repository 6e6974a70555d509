"""A page that is not the project's: ask a question, stream the answer with `streamchat.mount`.

`?endpoint=` and `?transport=` (fetch or eventsource) say where and how to ask.
"""

from urllib.parse import parse_qs

from pyscript import document, when, window

from streamchat import mount, render_markdown

options = parse_qs(str(window.location.search).removeprefix("?"))
ENDPOINT = options.get("endpoint", ["../../api/chat"])[0]
TRANSPORT = options.get("transport", ["fetch"])[0]
current = None


@when("submit", "#ask")
def ask(event):
    global current
    event.preventDefault()
    question = document.querySelector("#question").value
    current = mount("#answer", question, endpoint=ENDPOINT, transport=TRANSPORT)


@when("click", "#stop")
def stop(_event):
    if current is not None:
        current.stop()


render_markdown("*warm*")  # Markdown and Pygments set up before the first answer
document.documentElement.dataset.ready = "true"
