// The page's second, independent safety layer: DOMPurify (npm, self-hosted) cleans every HTML
// fragment before app/browser/dom.py inserts it, whatever app/render.py produced.
import DOMPurify from "./vendor/dompurify/purify.es.mjs";

// MathML from app/md_math.py: exactly its MATH_TAGS and MATH_ATTRIBUTES, no more.
const MATH_TAGS = [
  "math", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msup", "msub", "msubsup",
  "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr",
  "mtd", "mstyle", "mpadded", "mphantom", "menclose",
];
const MATH_ATTRIBUTES = [
  "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace",
  "width", "height", "depth", "accent", "accentunder", "columnalign", "columnspacing",
  "rowspacing", "columnlines", "rowlines", "linethickness", "displaystyle",
  "scriptlevel", "form", "largeop", "movablelimits", "minsize", "maxsize",
  "notation", "symmetric", "voffset",
];

const CONFIG = {
  USE_PROFILES: { html: true },
  ADD_TAGS: MATH_TAGS,
  ADD_ATTR: ["target", "tabindex", ...MATH_ATTRIBUTES],
  FORBID_TAGS: ["style", "form", "textarea", "select"],
  FORBID_ATTR: ["style"],
  // DOMPurify checks every attribute value that is not known to be URL-free against this
  // pattern: values with no scheme (align="right", start="3", tabindex="0") must pass, and
  // of the schemes only http, https and mailto. Links are checked more strictly below.
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.:-]|$))/i,
};
const LINK_ATTRIBUTES = new Set(["href", "src", "xlink:href", "action", "formaction"]);
const LINK_VALUE = /^(?:https?:|mailto:|#)/i;

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  // Links and images only to the web, e-mail or a same-page fragment: no relative URLs.
  // Checked once DOMPurify has checked the attributes, not as it reads each one (an
  // uponSanitizeAttribute hook): for a hook there it copies its whole attribute allow-list
  // on every call, once a frame while an answer streams (4.6 MB of garbage in a 20 KB
  // answer, measured with DevTools' sampling heap profiler).
  for (const name of LINK_ATTRIBUTES) {
    const value = node.getAttribute(name);
    if (value !== null && !LINK_VALUE.test(value.replace(/[\s\u0000-\u001f]/g, ""))) {
      node.removeAttribute(name);
    }
  }
  // Links from the model always open in a new tab without access to this page.
  if (node.tagName === "A" && node.hasAttribute("href") && !node.getAttribute("href").startsWith("#")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

// Set once: DOMPurify parses a configuration given to sanitize() again on every call (once a
// frame while an answer streams). Its result is a DocumentFragment to insert directly: no
// serialising and parsing again.
DOMPurify.setConfig({ ...CONFIG, RETURN_DOM_FRAGMENT: true });
window.streamchatSanitizeFragment = (html) => DOMPurify.sanitize(html);
// The same as HTML text.
window.streamchatSanitize = (html) => {
  const box = document.createElement("div");
  box.appendChild(DOMPurify.sanitize(html));
  return box.innerHTML;
};
