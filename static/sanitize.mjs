// The page's second, independent safety layer: DOMPurify (npm, self-hosted) cleans every HTML
// fragment before app/browser/dom.py inserts it, whatever app/render.py produced.
import DOMPurify from "./vendor/dompurify/purify.es.mjs";

const CONFIG = {
  USE_PROFILES: { html: true },
  ADD_ATTR: ["target"],
  FORBID_TAGS: ["style", "form", "textarea", "select"],
  FORBID_ATTR: ["style"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

// Links from the model always open in a new tab without access to this page.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href") && !node.getAttribute("href").startsWith("#")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

window.streamchatSanitize = (html) => DOMPurify.sanitize(html, CONFIG);
