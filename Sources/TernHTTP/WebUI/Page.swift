/// The catcher's web UI: one page, its stylesheet and its script, compiled into the binary so
/// `tern` stays one file (no resource bundle to lose, no build step, no npm). The script talks
/// to the JSON API (docs/api.md) and listens to `/api/v1/events` for live updates.
enum WebPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Tern · caught mail</title>
        <link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Cpath d='M2 18 L16 8 L30 4 L20 14 L28 16 L14 20 Z' fill='%23246'/%3E%3C/svg%3E">
        <link rel="stylesheet" href="/ui/app.css">
        <script src="/ui/app.js" defer></script>
        </head>
        <body>
        <header class="bar">
          <a class="brand" href="/" title="Tern mail catcher">
            <svg viewBox="0 0 32 32" aria-hidden="true"><path d="M2 18 L16 8 L30 4 L20 14 L28 16 L14 20 Z"/></svg>
            <span>Tern</span>
          </a>
          <select id="inbox" aria-label="Inbox"><option value="">All inboxes</option></select>
          <form id="search-form" role="search">
            <input id="search" type="search" placeholder="Search  ·  from:  to:  subject:  is:unread  has:attachment" aria-label="Search" autocomplete="off">
          </form>
          <span id="status" class="status" aria-live="polite"></span>
          <button id="mark-all-read" type="button" title="Mark all read">Mark all read</button>
          <button id="delete-all" type="button" class="danger" title="Delete all shown">Delete all</button>
        </header>
        <main>
          <section id="list-pane" aria-label="Messages">
            <ol id="list"></ol>
            <p id="empty" class="empty" hidden>No mail yet. Send some to the SMTP port and it appears here at once.</p>
            <button id="more" type="button" hidden>Older messages</button>
          </section>
          <section id="view-pane" aria-label="Message" hidden>
            <div class="view-head">
              <button id="back" type="button" class="back" aria-label="Back to the list">←</button>
              <h1 id="subject"></h1>
              <dl id="meta"></dl>
              <div class="actions">
                <button id="toggle-read" type="button">Mark unread</button>
                <a id="download" class="button" href="#">Download .eml</a>
                <button id="release" type="button" title="Send this message on to a real mailbox ([catcher.release])">Release…</button>
                <button id="delete" type="button" class="danger">Delete</button>
              </div>
              <nav id="tabs" role="tablist"></nav>
            </div>
            <div id="tab-body"></div>
          </section>
          <section id="placeholder" class="placeholder">
            <p>Select a message. Keys: <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> open, <kbd>/</kbd> search, <kbd>u</kbd> unread, <kbd>Delete</kbd> delete.</p>
          </section>
        </main>
        </body>
        </html>
        """#

    static let css = #"""
        :root {
          --bg: #f6f7f9; --panel: #fff; --text: #1d2330; --muted: #667085; --line: #e3e6eb;
          --accent: #24557a; --accent-soft: #e8f0f7; --danger: #b42318; --unread: #24557a;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px;
          color-scheme: light dark;
        }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #14171c; --panel: #1b1f26; --text: #e6e8ec; --muted: #98a2b3; --line: #2b313b;
                  --accent: #7fb2dd; --accent-soft: #1f2a36; --danger: #f97066; --unread: #7fb2dd; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--text); height: 100vh; display: flex; flex-direction: column; }
        button, .button, select, input { font: inherit; color: inherit; }
        button, .button { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 5px 10px;
          cursor: pointer; text-decoration: none; white-space: nowrap; }
        button:hover, .button:hover { border-color: var(--accent); }
        button.danger { color: var(--danger); }
        .bar { display: flex; gap: 10px; align-items: center; padding: 8px 14px; background: var(--panel);
          border-bottom: 1px solid var(--line); }
        .brand { display: flex; align-items: center; gap: 6px; color: var(--accent); font-weight: 650; font-size: 16px;
          text-decoration: none; }
        .brand svg { width: 22px; height: 22px; fill: var(--accent); }
        #search-form { flex: 1; }
        #search { width: 100%; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); }
        select { padding: 5px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); }
        .status { color: var(--muted); min-width: 80px; text-align: right; }
        main { flex: 1; display: grid; grid-template-columns: minmax(280px, 38%) 1fr; min-height: 0; }
        #list-pane { overflow-y: auto; border-right: 1px solid var(--line); background: var(--panel); }
        #list { list-style: none; margin: 0; padding: 0; }
        #list li { padding: 9px 14px 9px 22px; border-bottom: 1px solid var(--line); cursor: pointer; position: relative; }
        #list li:hover { background: var(--bg); }
        #list li.selected { background: var(--accent-soft); }
        #list li.unread::before { content: ""; position: absolute; left: 8px; top: 15px; width: 7px; height: 7px;
          border-radius: 50%; background: var(--unread); }
        #list li.unread .subject { font-weight: 650; }
        .row1 { display: flex; justify-content: space-between; gap: 8px; }
        .from { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        .time { color: var(--muted); font-size: 12px; white-space: nowrap; display: flex; gap: 4px; align-items: center; }
        .clip { width: 12px; height: 12px; background: no-repeat center/contain url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' stroke='%23667085' stroke-width='2.2' stroke-linecap='round'%3E%3Cpath d='M21 11l-8.5 8.5a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7'/%3E%3C/svg%3E"); }
        .subject, .snippet { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        .snippet { color: var(--muted); font-size: 12.5px; }
        .chip { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 9px; background: var(--accent-soft);
          color: var(--accent); margin-left: 4px; }
        .empty, .placeholder p { color: var(--muted); padding: 24px; }
        #more { margin: 10px auto; display: block; }
        #more[hidden], .empty[hidden] { display: none; }
        #view-pane, .placeholder { overflow: auto; display: flex; flex-direction: column; min-height: 0; }
        #view-pane[hidden], .placeholder[hidden] { display: none; }
        .view-head { padding: 14px 18px 0; background: var(--panel); border-bottom: 1px solid var(--line); }
        .view-head h1 { font-size: 18px; margin: 0 0 8px; }
        .back { display: none; }
        #meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0 0 10px; font-size: 13px; }
        #meta dt { color: var(--muted); }
        #meta dd { margin: 0; overflow-wrap: anywhere; }
        .actions { display: flex; gap: 8px; margin-bottom: 10px; flex-wrap: wrap; }
        #tabs { display: flex; gap: 2px; flex-wrap: wrap; }
        #tabs button { border: none; border-bottom: 2px solid transparent; border-radius: 0; background: none; padding: 6px 10px; }
        #tabs button[aria-selected="true"] { border-bottom-color: var(--accent); color: var(--accent); font-weight: 600; }
        #tab-body { flex: 1; padding: 14px 18px; min-height: 0; }
        #tab-body iframe { width: 100%; height: 100%; min-height: 60vh; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
        #tab-body pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; }
        .notice { background: var(--accent-soft); padding: 6px 10px; border-radius: 6px; margin-bottom: 8px; display: flex; gap: 10px; align-items: center; }
        table.plain { border-collapse: collapse; width: 100%; }
        table.plain td, table.plain th { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
        .tree ul { list-style: none; padding-left: 18px; margin: 0; }
        .tree li { padding: 2px 0; }
        .verdict { font-weight: 600; padding: 1px 6px; border-radius: 4px; background: var(--accent-soft); }
        .verdict.pass { color: #14632b; background: #d8f3df; }
        .verdict.fail, .verdict.permerror { color: #8a1c1c; background: #fbdcdc; }
        .verdict.softfail, .verdict.temperror, .verdict.policy { color: #7a4b00; background: #fdecc8; }
        .codes span { font: 600 18px ui-monospace, monospace; background: var(--accent-soft); padding: 2px 8px; border-radius: 6px; margin-right: 6px; }
        @media (max-width: 760px) {
          main { grid-template-columns: 1fr; }
          main.viewing #list-pane, main.viewing .placeholder { display: none; }
          main:not(.viewing) #view-pane, .placeholder { display: none; }
          .back { display: inline-block; margin-right: 8px; }
          .bar button { display: none; }
        }
        """#
}
