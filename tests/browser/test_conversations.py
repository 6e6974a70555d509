"""Past conversations: new chat, the list, reopening, rename, search, export, delete, tabs."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import READY, ask, open_page

FIRST = "What is PyScript?"
SECOND = "How does the page resume a dropped stream?"


def items(page: Page) -> list[str]:
    page.wait_for_timeout(0)
    return [
        text.strip()
        for text in page.locator("[data-role=conversations] .conversation-open").all_inner_texts()
    ]


def test_new_chat_keeps_the_old_one_in_the_list_and_it_can_be_reopened(
    page: Page, server_url: str
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    open_page(page, server_url)
    expect(ask(page, FIRST)).to_have_attribute("data-state", "done")
    listed = page.locator("[data-role=conversations] .conversation-open")
    expect(listed).to_have_text([FIRST])
    expect(listed.first).to_have_attribute("aria-current", "true")

    page.click("button[data-action=new-chat]")
    expect(page.locator("[data-role=answer]")).to_have_count(0)
    expect(ask(page, SECOND)).to_have_attribute("data-state", "done")
    expect(listed).to_have_text([SECOND, FIRST])  # newest first

    listed.nth(1).click()
    expect(page.locator("[data-role=question]")).to_have_text([FIRST])
    expect(page.locator("[data-role=answer]").first).to_have_attribute("data-state", "done")
    # A follow-up in the reopened conversation goes on from its last answer.
    expect(ask(page, "And Pyodide?")).to_have_attribute("data-state", "done")
    expect(page.locator("[data-role=question]")).to_have_text([FIRST, "And Pyodide?"])

    # Search, rename, delete.
    page.fill("[data-role=conversation-search]", "resume dropped")
    expect(listed).to_have_text([SECOND])
    page.fill("[data-role=conversation-search]", "")
    row = page.locator(".conversation-item", has_text=SECOND)
    row.hover()
    row.locator("[data-action=rename-conversation]").click()
    page.fill("[data-role=rename]", "Resuming streams")
    page.keyboard.press("Enter")
    expect(listed).to_contain_text(["Resuming streams"])
    row = page.locator(".conversation-item", has_text="Resuming streams")
    row.hover()
    delete = row.locator("[data-action=delete-conversation]")
    delete.click()
    expect(delete).to_have_text("Delete?")
    delete.click()
    expect(listed).to_have_text([FIRST])

    # The list survives a reload, and so does the conversation on screen.
    page.reload()
    page.wait_for_selector(READY)
    expect(listed).to_have_text([FIRST])
    expect(page.locator("[data-role=question]")).to_have_text([FIRST, "And Pyodide?"])


def test_export_downloads_the_conversation_as_markdown(page: Page, server_url: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    open_page(page, server_url)
    expect(ask(page, FIRST)).to_have_attribute("data-state", "done")
    row = page.locator(".conversation-item").first
    row.hover()
    with page.expect_download() as info:
        row.locator("[data-action=export-conversation]").click()
    download = info.value
    assert download.suggested_filename == "what-is-pyscript.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith(f"# {FIRST}\n\n> {FIRST}\n\n")


def test_on_a_narrow_screen_the_list_is_a_drawer(page: Page, server_url: str) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    open_page(page, server_url)
    expect(ask(page, FIRST)).to_have_attribute("data-state", "done")
    drawer = page.locator("[data-role=conversations]")
    expect(drawer).not_to_be_visible()
    toggle = page.locator("[data-action=toggle-conversations]")
    toggle.click()
    expect(drawer).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.click("button[data-action=new-chat]")
    expect(page.locator("[data-role=answer]")).to_have_count(0)
    drawer.locator(".conversation-open", has_text=FIRST).click()
    expect(drawer).not_to_be_visible()  # chosen: the drawer closes
    expect(page.locator("[data-role=question]")).to_have_text([FIRST])


def test_two_tabs_writing_the_same_conversation_lose_nothing(page: Page, server_url: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    open_page(page, server_url)
    expect(ask(page, FIRST)).to_have_attribute("data-state", "done")
    # Kept in the tab once the answer is shown (an idle moment after).
    page.wait_for_function(
        "() => { const turns = JSON.parse(sessionStorage.getItem('streamchat:conversation'));"
        " return turns && turns.length && turns[turns.length - 1].state === 'done'; }"
    )
    # A second tab with the same conversation (as after "duplicate tab"), both going on.
    other = page.context.new_page()
    other.set_viewport_size({"width": 1280, "height": 900})
    other.goto(page.url)
    other.wait_for_selector(READY, timeout=60_000)
    other.evaluate(
        "([a, b]) => { sessionStorage.setItem('streamchat:conversation', a);"
        " sessionStorage.setItem('streamchat:current', b); }",
        page.evaluate(
            "[sessionStorage.getItem('streamchat:conversation'),"
            " sessionStorage.getItem('streamchat:current')]"
        ),
    )
    other.reload()
    other.wait_for_selector(READY, timeout=60_000)
    expect(ask(other, "Asked in the other tab")).to_have_attribute("data-state", "done")
    expect(ask(page, "Asked in this tab")).to_have_attribute("data-state", "done")
    listed = page.locator("[data-role=conversations] .conversation-open")
    expect(listed).to_have_count(2)
    titles = items(page)
    assert any("from another tab" in t for t in titles) or len(set(titles)) == 2
    other.close()
