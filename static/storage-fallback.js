// Memory-only stand-ins for storage the browser denies this document, so that the page can
// start at all (docs/embedding.md, "Storage").
//
// Where the browser denies a document storage (a third-party iframe when third-party cookies
// are blocked: incognito windows, strict privacy settings), reading localStorage or
// sessionStorage throws and indexedDB.open fails, and PyScript, which opens an IndexedDB
// package cache on every start, cannot start at all. Then the page gets memory-only
// stand-ins: nothing outlives the page, everything else works. This runs before PyScript,
// whose module script comes later in the document.
(function () {
  "use strict";
  if (storageDenied()) {
    replace("localStorage", memoryStorage());
    replace("sessionStorage", memoryStorage());
    replace("indexedDB", memoryIndexedDB());
  }

  function storageDenied() {
    try {
      return !window.localStorage;
    } catch (error) {
      return true;
    }
  }

  function replace(name, value) {
    Object.defineProperty(window, name, { value: value, configurable: true, enumerable: true });
  }

  function memoryStorage() {
    var items = new Map();
    return {
      get length() { return items.size; },
      key: function (index) { var keys = Array.from(items.keys()); return index < keys.length ? keys[index] : null; },
      getItem: function (key) { key = String(key); return items.has(key) ? items.get(key) : null; },
      setItem: function (key, value) { items.set(String(key), String(value)); },
      removeItem: function (key) { items.delete(String(key)); },
      clear: function () { items.clear(); },
    };
  }

  // The part of IndexedDB that PyScript's cache (@webreflection/idb-map) uses: open a
  // database, create and use object stores; requests succeed asynchronously, as real ones do.
  function memoryIndexedDB() {
    var databases = new Map();
    function request(run) {
      var pending = { result: undefined, error: null, readyState: "pending", onsuccess: null, onerror: null };
      Promise.resolve().then(function () {
        pending.result = run();
        pending.readyState = "done";
        if (pending.onsuccess) pending.onsuccess({ type: "success", target: pending });
      });
      return pending;
    }
    function storeOf(records) {
      var id = function (key) { return typeof key === "object" ? JSON.stringify(key) : key; };
      return {
        get: function (key) { return request(function () { var r = records.get(id(key)); return r && r[1]; }); },
        getKey: function (key) { return request(function () { var r = records.get(id(key)); return r && r[0]; }); },
        getAllKeys: function () { return request(function () { return Array.from(records.values(), function (r) { return r[0]; }); }); },
        count: function () { return request(function () { return records.size; }); },
        put: function (value, key) { return request(function () { records.set(id(key), [key, value]); return key; }); },
        delete: function (key) { return request(function () { records.delete(id(key)); }); },
        clear: function () { return request(function () { records.clear(); }); },
      };
    }
    function database(name) {
      var stores = new Map();
      return {
        name: name,
        version: 1,
        objectStoreNames: { get length() { return stores.size; }, contains: function (n) { return stores.has(n); } },
        createObjectStore: function (store) { stores.set(store, new Map()); return storeOf(stores.get(store)); },
        transaction: function (names) {
          var transaction = { oncomplete: null, onerror: null, onabort: null, objectStore: function (store) {
            if (!stores.has(store)) throw new DOMException("No object store " + store, "NotFoundError");
            return storeOf(stores.get(store));
          } };
          Promise.resolve().then(function () { if (transaction.oncomplete) transaction.oncomplete({ type: "complete", target: transaction }); });
          return transaction;
        },
        close: function () {},
      };
    }
    return {
      // The page's conversation list (static/conversations.js) keeps its records in memory
      // itself rather than rely on this stand-in, which covers only what PyScript needs.
      streamchatStandIn: true,
      open: function (name) {
        var opening = { result: undefined, error: null, transaction: null, readyState: "pending", onsuccess: null, onerror: null, onupgradeneeded: null, onblocked: null };
        Promise.resolve().then(function () {
          var isNew = !databases.has(name);
          if (isNew) databases.set(name, database(name));
          opening.result = databases.get(name);
          if (isNew && opening.onupgradeneeded) {
            opening.transaction = opening.result.transaction([]);
            opening.onupgradeneeded({ type: "upgradeneeded", target: opening, oldVersion: 0, newVersion: 1 });
          }
          opening.transaction = null;
          opening.readyState = "done";
          if (opening.onsuccess) opening.onsuccess({ type: "success", target: opening });
        });
        return opening;
      },
      deleteDatabase: function (name) { return request(function () { databases.delete(name); }); },
    };
  }
})();
