extension WebPage {
    static let script = #"""
        "use strict";
        // Tern's catcher UI: plain DOM, no framework. Message data is only ever set as text
        // (textContent), never parsed as HTML; a message's own HTML is shown in a sandboxed
        // iframe from /view/{id}, whose Content-Security-Policy forbids scripts.
        const $ = (id) => document.getElementById(id);
        const state = { inbox: "", query: "", messages: [], selected: null, message: null, tab: "html", limit: 100 };
        const api = async (path, options = {}) => {
          const response = await fetch(path, options);
          if (!response.ok && response.status !== 404) throw new Error(`${response.status} ${await response.text()}`);
          return response;
        };
        const el = (tag, props = {}, ...children) => {
          const node = document.createElement(tag);
          for (const [key, value] of Object.entries(props)) {
            if (key === "class") node.className = value;
            else if (key === "text") node.textContent = value;
            else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
            else node.setAttribute(key, value);
          }
          for (const child of children) node.append(child);
          return node;
        };
        const who = (a) => (a ? (a.Name ? `${a.Name} <${a.Address}>` : a.Address) : "");
        const shortTime = (iso) => {
          const date = new Date(iso), now = new Date();
          return date.toDateString() === now.toDateString()
            ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
            : date.toLocaleDateString([], { month: "short", day: "numeric" });
        };
        const params = () => {
          const p = new URLSearchParams({ limit: String(state.limit) });
          if (state.inbox) p.set("inbox", state.inbox);
          if (state.query) p.set("query", state.query);
          return p;
        };

        async function loadInboxes() {
          const inboxes = await (await api("/api/v1/inboxes")).json();
          const select = $("inbox");
          const current = select.value;
          select.replaceChildren(el("option", { value: "", text: "All inboxes" }),
            ...inboxes.map((i) => el("option", { value: i.Name, text: `${i.Name} (${i.Unread}/${i.Total})` })));
          select.value = inboxes.some((i) => i.Name === current) ? current : "";
        }

        async function loadList() {
          const path = state.query ? "/api/v1/search" : "/api/v1/messages";
          const list = await (await api(`${path}?${params()}`)).json();
          state.messages = list.messages;
          $("status").textContent = `${list.messages_unread} unread · ${list.messages_count}`;
          $("empty").hidden = list.messages.length > 0;
          $("more").hidden = list.messages_count <= list.messages.length;
          $("list").replaceChildren(...list.messages.map(row));
          document.title = list.unread ? `(${list.unread}) Tern · caught mail` : "Tern · caught mail";
        }

        function row(m) {
          const classes = [m.Read ? "" : "unread", m.ID === state.selected ? "selected" : ""].join(" ");
          const tags = m.Tags.map((t) => el("span", { class: "chip", text: t }));
          if (!state.inbox && m.Inbox !== "default") tags.unshift(el("span", { class: "chip", text: m.Inbox }));
          return el("li", { class: classes, "data-id": m.ID, tabindex: "-1", onclick: () => openMessage(m.ID) },
            el("div", { class: "row1" },
              el("span", { class: "from", text: who(m.From) || "(no sender)" }),
              el("span", { class: "time", title: m.Created },
                ...(m.Attachments ? [el("span", { class: "clip", title: `${m.Attachments} attachment(s)` })] : []),
                shortTime(m.Created))),
            el("div", { class: "subject", text: m.Subject || "(no subject)" }, ...tags),
            el("div", { class: "snippet", text: m.Snippet }));
        }

        async function openMessage(id) {
          const response = await api(`/api/v1/message/${encodeURIComponent(id)}`);
          if (response.status === 404) { closeMessage(); return loadList(); }
          const m = await response.json();
          state.selected = id;
          state.message = m;
          $("placeholder").hidden = true;
          $("view-pane").hidden = false;
          document.querySelector("main").classList.add("viewing");
          $("subject").textContent = m.Subject || "(no subject)";
          const list = (shown, count) => shown.map(who).join(", ") + (count > shown.length ? ` and ${count - shown.length} more` : "");
          const meta = [["From", who(m.From)], ["To", list(m.To, m.ToCount)], ["Cc", list(m.Cc, m.CcCount)],
            ["Date", new Date(m.Date).toLocaleString()], ["Inbox", m.Inbox], ["Size", `${m.Size} bytes`]];
          $("meta").replaceChildren(...meta.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
          $("toggle-read").textContent = "Mark unread";
          $("download").href = `/api/v1/message/${encodeURIComponent(id)}/raw?dl=1`;
          const tabs = [["html", "HTML", m.HTML !== ""], ["text", "Text", true], ["headers", "Headers", true], ["raw", "Raw", true],
            ["attachments", `Attachments (${m.Attachments.length})`, true], ["mime", "MIME", true], ["links", `Links (${m.Links.length})`, true],
            ["auth", "Authentication", true]];
          if (state.tab === "html" && m.HTML === "") state.tab = "text";
          $("tabs").replaceChildren(...tabs.filter(([, , on]) => on).map(([key, label]) =>
            el("button", { role: "tab", "aria-selected": String(state.tab === key), onclick: () => showTab(key), text: label })));
          showTab(state.tab);
          for (const li of $("list").children) li.classList.toggle("selected", li.dataset.id === id);
          const li = [...$("list").children].find((n) => n.dataset.id === id);
          if (li) { li.classList.remove("unread"); li.scrollIntoView({ block: "nearest" }); }
        }

        function closeMessage() {
          state.selected = null;
          $("view-pane").hidden = true;
          $("placeholder").hidden = false;
          document.querySelector("main").classList.remove("viewing");
        }

        async function showTab(key) {
          state.tab = key;
          const m = state.message, id = encodeURIComponent(m.ID), body = $("tab-body");
          for (const b of $("tabs").children) b.setAttribute("aria-selected", String(b.textContent.toLowerCase().startsWith(key.slice(0, 4))));
          if (key === "html") {
            const frame = (remote) => el("iframe", { title: "HTML body", sandbox: "allow-popups allow-popups-to-escape-sandbox",
              referrerpolicy: "no-referrer", src: `/view/${id}${remote ? "?remote=1" : ""}` });
            const notice = el("div", { class: "notice" }, el("span", { text: "Remote images are blocked." }),
              el("button", { text: "Show remote images", onclick: () => body.replaceChildren(frame(true)) }));
            body.replaceChildren(notice, frame(false));
          } else if (key === "text") {
            body.replaceChildren(el("pre", { text: m.Text || "(no text part)" }));
          } else if (key === "headers") {
            const headers = await (await api(`/api/v1/message/${id}/headers`)).json();
            body.replaceChildren(el("table", { class: "plain" }, ...Object.entries(headers).flatMap(([name, values]) =>
              values.map((v) => el("tr", {}, el("th", { text: name }), el("td", { text: v }))))));
          } else if (key === "raw") {
            body.replaceChildren(el("pre", { text: await (await api(`/api/v1/message/${id}/raw`)).text() }));
          } else if (key === "attachments") {
            const all = [...m.Attachments, ...m.Inline];
            body.replaceChildren(all.length ? el("table", { class: "plain" },
              el("tr", {}, el("th", { text: "File" }), el("th", { text: "Type" }), el("th", { text: "Size" })),
              ...all.map((a) => el("tr", {},
                el("td", {}, el("a", { href: `/api/v1/message/${id}/part/${encodeURIComponent(a.PartID)}`, download: a.FileName, text: a.FileName || a.PartID })),
                el("td", { text: a.ContentType }), el("td", { text: `${a.Size} bytes` })))) : el("p", { text: "No attachments." }));
          } else if (key === "mime") {
            const node = (p) => el("li", {}, el("span", { text: `${p.PartID || "message"} · ${p.ContentType}${p.FileName ? " · " + p.FileName : ""} · ${p.Size} bytes` }),
              ...(p.Children.length ? [el("ul", {}, ...p.Children.map(node))] : []));
            body.replaceChildren(el("div", { class: "tree" }, el("ul", {}, node(m.Parts))));
          } else if (key === "links") {
            const parts = [];
            if (m.Codes.length) parts.push(el("p", { class: "codes" }, el("strong", { text: "Codes: " }), ...m.Codes.map((c) => el("span", { text: c }))));
            parts.push(m.Links.length ? el("table", { class: "plain" }, ...m.Links.map((l) => el("tr", {},
              el("td", {}, el("a", { href: l.Href, target: "_blank", rel: "noopener noreferrer", text: l.Href })), el("td", { text: l.Text }))))
              : el("p", { text: "No links." }));
            if (m.ListUnsubscribe.Links.length) parts.push(el("p", { text: `List-Unsubscribe: ${m.ListUnsubscribe.Links.join(", ")}` }));
            body.replaceChildren(...parts);
          } else if (key === "auth") {
            body.replaceChildren(el("p", { text: "Checking DKIM, SPF, DMARC and ARC through DNS…" }));
            let a;
            try {
              a = await (await api(`/api/v1/message/${id}/authentication`)).json();
            } catch (error) {
              body.replaceChildren(el("p", { text: String(error.message) }));
              return;
            }
            if (state.tab !== "auth" || state.message !== m) return;
            const verdict = (result) => el("td", {}, el("span", { class: `verdict ${result}`, text: result }));
            const row = (...cells) => el("tr", {}, ...cells.map((c) => (c instanceof Node ? c : el("td", { text: String(c ?? "") }))));
            const head = (...names) => el("tr", {}, ...names.map((n) => el("th", { text: n })));
            const parts = [el("p", { text: "What a receiving mail server would find now, checked through DNS." })];
            parts.push(el("h3", { text: "DKIM" }), a.DKIM.length
              ? el("table", { class: "plain" }, head("Result", "Domain", "Selector", "Algorithm", "Why"),
                ...a.DKIM.map((d) => row(verdict(d.Result), d.Domain, d.Selector, d.Algorithm,
                  [d.Reason, d.KeyBits ? `${d.KeyBits}-bit key` : "", d.Testing ? "key in test mode" : "",
                   d.UnsignedBodyOctets ? `${d.UnsignedBodyOctets} body octets not signed` : ""].filter(Boolean).join("; "))))
              : el("p", { text: "No DKIM signature." }));
            if (a.SPF) parts.push(el("h3", { text: "SPF" }), el("table", { class: "plain" },
              head("Result", "Identity", "Client", "Why"),
              row(verdict(a.SPF.Result), a.SPF.Identity, `${a.SPF.ClientIP} (${a.SPF.HELO})`, [a.SPF.Reason, a.SPF.Explanation].filter(Boolean).join("; "))));
            if (a.DMARC) parts.push(el("h3", { text: "DMARC" }), el("table", { class: "plain" },
              head("Result", "From domain", "Policy", "Disposition", "Why"),
              row(verdict(a.DMARC.Result), a.DMARC.Domain, a.DMARC.AppliedPolicy, a.DMARC.Disposition, a.DMARC.Reason)));
            if (a.ARC) parts.push(el("h3", { text: "ARC" }), el("table", { class: "plain" },
              head("Result", "Sets", "Sealed by", "Why"),
              row(verdict(a.ARC.Result), a.ARC.Instances, a.ARC.Sealers.join(", "), a.ARC.Reason)));
            parts.push(el("h3", { text: "Authentication-Results" }), el("pre", { text: a.Header }));
            body.replaceChildren(...parts);
          }
        }

        async function refresh() {
          await Promise.all([loadList(), loadInboxes()]);
        }
        let refreshTimer = null;
        const refreshSoon = () => { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 150); };

        function listen() {
          const events = new EventSource("/api/v1/events");
          for (const type of ["stored", "updated", "deleted"]) events.addEventListener(type, refreshSoon);
          events.onerror = () => { $("status").textContent = "reconnecting…"; };
          events.onopen = refreshSoon;
        }

        async function removeSelected() {
          if (!state.selected) return;
          const index = state.messages.findIndex((m) => m.ID === state.selected);
          await api("/api/v1/messages", { method: "DELETE", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ IDs: [state.selected] }) });
          const next = state.messages[index + 1] || state.messages[index - 1];
          closeMessage();
          await refresh();
          if (next) openMessage(next.ID);
        }

        function move(step) {
          const index = state.messages.findIndex((m) => m.ID === state.selected);
          const next = state.messages[Math.max(0, Math.min(state.messages.length - 1, index + step))];
          if (next) openMessage(next.ID);
        }

        document.addEventListener("DOMContentLoaded", () => {
          $("search-form").addEventListener("submit", (e) => { e.preventDefault(); state.query = $("search").value.trim(); loadList(); });
          $("search").addEventListener("input", () => { state.query = $("search").value.trim(); refreshSoon(); });
          $("inbox").addEventListener("change", () => { state.inbox = $("inbox").value; closeMessage(); loadList(); });
          $("more").addEventListener("click", () => { state.limit += 100; loadList(); });
          $("back").addEventListener("click", closeMessage);
          $("delete").addEventListener("click", removeSelected);
          $("release").addEventListener("click", async () => {
            const to = prompt("Send this message on to (comma-separated addresses):");
            if (!to) return;
            const response = await fetch(`/api/v1/message/${encodeURIComponent(state.selected)}/release`, {
              method: "POST", headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ To: to.split(",").map((a) => a.trim()).filter(Boolean) }) });
            alert(response.ok ? "Released." : await response.text());
          });
          $("toggle-read").addEventListener("click", async () => {
            const unread = $("toggle-read").textContent === "Mark unread";
            await api("/api/v1/messages", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ IDs: [state.selected], Read: !unread }) });
            $("toggle-read").textContent = unread ? "Mark read" : "Mark unread";
            refreshSoon();
          });
          $("mark-all-read").addEventListener("click", async () => {
            const p = new URLSearchParams(state.inbox ? { inbox: state.inbox } : {});
            await api(`/api/v1/messages?${p}`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ Read: true, Search: state.query }) });
            refresh();
          });
          $("delete-all").addEventListener("click", async () => {
            const what = state.query ? `every message matching "${state.query}"` : state.inbox ? `every message in ${state.inbox}` : "every message";
            if (!confirm(`Delete ${what}?`)) return;
            const p = new URLSearchParams(state.inbox ? { inbox: state.inbox } : {});
            if (state.query) { p.set("query", state.query); await api(`/api/v1/search?${p}`, { method: "DELETE" }); }
            else await api(`/api/v1/messages?${p}`, { method: "DELETE" });
            closeMessage();
            refresh();
          });
          document.addEventListener("keydown", (e) => {
            if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.metaKey || e.ctrlKey) {
              if (e.key === "Escape") e.target.blur();
              return;
            }
            if (e.key === "j" || e.key === "ArrowDown") { move(1); e.preventDefault(); }
            else if (e.key === "k" || e.key === "ArrowUp") { move(-1); e.preventDefault(); }
            else if (e.key === "Enter" && !state.selected && state.messages[0]) openMessage(state.messages[0].ID);
            else if (e.key === "/") { $("search").focus(); e.preventDefault(); }
            else if (e.key === "Delete" || e.key === "#") removeSelected();
            else if (e.key === "u" && state.selected) $("toggle-read").click();
            else if (e.key === "Escape") closeMessage();
          });
          refresh();
          listen();
        });
        """#
}
