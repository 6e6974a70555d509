// Past conversations in IndexedDB: window.streamchatConversations, promise-based, used by the
// page's Python (app/browser/library.py). IndexedDB's request/callback API is awkward to drive
// through Pyodide's proxies, so this small layer turns it into promises and nothing else;
// what a conversation is, its title and its search live in Python (app/library.py).
//
// Each record is {id, title, updated, rev, text, turns}: `turns` is the conversation as the
// page stores it (JSON), `text` its questions for search. Two tabs may write the same
// conversation: every put names the `rev` it started from, and when another tab wrote in the
// meantime the put is saved as a new conversation rather than overwriting (nothing is lost).
// Where IndexedDB is unavailable (blocked storage, a private window), the records live in
// memory: the page works, and nothing outlives it.
(function () {
  "use strict";
  var DB = "streamchat";
  var STORE = "conversations";
  var channel = "BroadcastChannel" in window ? new BroadcastChannel("streamchat-conversations") : null;
  var memory = null; // Map id -> record, when IndexedDB cannot be used
  var opening = null;

  function open() {
    if (opening) return opening;
    opening = new Promise(function (resolve) {
      var request;
      if (!window.indexedDB || window.indexedDB.streamchatStandIn) {
        resolve(null);
        return;
      }
      try {
        request = indexedDB.open(DB, 1);
      } catch (error) {
        resolve(null);
        return;
      }
      request.onupgradeneeded = function () {
        // No index: the list is sorted here, and the page's memory stand-in for a denied
        // IndexedDB (static/bridge.js) has object stores only.
        request.result.createObjectStore(STORE, { keyPath: "id" });
      };
      request.onsuccess = function () {
        var db = request.result;
        // A stand-in without transactions is as good as none: keep the records in memory.
        resolve(db && typeof db.transaction === "function" ? db : null);
      };
      request.onerror = function () { resolve(null); };
      request.onblocked = function () { resolve(null); };
    }).then(function (db) {
      if (!db) memory = new Map();
      return db;
    });
    return opening;
  }

  function done(request) {
    return new Promise(function (resolve, reject) {
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function transaction(db, mode, work) {
    return new Promise(function (resolve, reject) {
      var tx = db.transaction(STORE, mode);
      var result;
      tx.oncomplete = function () { resolve(result); };
      tx.onabort = tx.onerror = function () { reject(tx.error || new Error("transaction failed")); };
      work(tx.objectStore(STORE), function (value) { result = value; });
    });
  }

  function summary(record) {
    return { id: record.id, title: record.title, updated: record.updated, text: record.text };
  }

  function changed(id) {
    if (channel) channel.postMessage({ changed: id });
  }

  function newId() {
    var bytes = new Uint8Array(9);
    crypto.getRandomValues(bytes);
    return "c" + Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  window.streamchatConversations = {
    newId: newId,

    // Summaries of every conversation, newest first.
    list: function () {
      return open().then(function (db) {
        if (!db) return Array.from(memory.values()).map(summary);
        return transaction(db, "readonly", function (store, set) {
          done(store.getAll()).then(function (records) { set(records.map(summary)); });
        });
      }).then(function (items) {
        return items.sort(function (a, b) { return b.updated - a.updated; });
      });
    },

    get: function (id) {
      return open().then(function (db) {
        if (!db) return memory.get(id) || null;
        return transaction(db, "readonly", function (store, set) {
          done(store.get(id)).then(function (record) { set(record || null); });
        });
      });
    },

    // Saves `record` ({id, title, text, turns}) if the stored one is still at `baseRev`
    // (0: new); else as a new conversation. Resolves to {id, rev, forked}.
    put: function (record, baseRev) {
      return open().then(function (db) {
        var now = Date.now();
        if (!db) {
          var kept = memory.get(record.id);
          var forkedInMemory = kept !== undefined && kept.rev !== baseRev;
          var id = forkedInMemory ? newId() : record.id;
          var rev = forkedInMemory ? 1 : baseRev + 1;
          memory.set(id, Object.assign({}, record, { id: id, rev: rev, updated: now }));
          return { id: id, rev: rev, forked: forkedInMemory };
        }
        return transaction(db, "readwrite", function (store, set) {
          done(store.get(record.id)).then(function (current) {
            var forked = current !== undefined && current.rev !== baseRev;
            var saved = Object.assign({}, record, { updated: now });
            if (forked) {
              saved.id = newId();
              saved.title = record.title + " (from another tab)";
              saved.rev = 1;
            } else {
              saved.rev = baseRev + 1;
            }
            store.put(saved);
            set({ id: saved.id, rev: saved.rev, forked: forked });
          });
        });
      }).then(function (result) {
        changed(result.id);
        return result;
      });
    },

    // Renames a conversation; resolves to its new rev (0 when there is no such conversation).
    rename: function (id, title) {
      return open().then(function (db) {
        if (!db) {
          var kept = memory.get(id);
          if (!kept) return 0;
          kept.title = title;
          kept.rev += 1;
          return kept.rev;
        }
        return transaction(db, "readwrite", function (store, set) {
          done(store.get(id)).then(function (current) {
            if (!current) { set(0); return; }
            current.title = title;
            current.rev += 1;
            store.put(current);
            set(current.rev);
          });
        });
      }).then(function (rev) { changed(id); return rev; });
    },

    remove: function (id) {
      return open().then(function (db) {
        if (!db) { memory.delete(id); return true; }
        return transaction(db, "readwrite", function (store, set) {
          store.delete(id);
          set(true);
        });
      }).then(function (result) { changed(id); return result; });
    },

    // Calls `listener(id)` when another tab changed a conversation.
    onChange: function (listener) {
      if (channel) channel.addEventListener("message", function (event) { listener(event.data.changed); });
    },

    // Offers `text` as a file download (Export as Markdown).
    download: function (name, text) {
      var url = URL.createObjectURL(new Blob([text], { type: "text/markdown;charset=utf-8" }));
      var link = document.createElement("a");
      link.href = url;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    },
  };
})();
