// A small Markdown renderer that builds DOM nodes: headings, paragraphs, lists, quotes,
// fenced code, inline code, emphasis and links. Markup in the text stays text (it is
// never parsed as HTML); a link is kept only for http, https and mailto addresses.

import { h } from "./dom.js";

const SAFE_LINK = /^(https?:|mailto:)/i;

function inline(text) {
  const nodes = [];
  const pattern = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*]+\*|_[^_]+_)|(\[[^\]]+\]\([^)\s]+\))/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    const token = match[0];
    if (match[1]) nodes.push(h("code", {}, token.slice(1, -1)));
    else if (match[2]) nodes.push(h("strong", {}, inline(token.slice(2, -2))));
    else if (match[3]) nodes.push(h("em", {}, inline(token.slice(1, -1))));
    else {
      const [, label, href] = token.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
      nodes.push(SAFE_LINK.test(href)
        ? h("a", { href, rel: "noopener noreferrer nofollow" }, label)
        : `${label} (${href})`);
    }
    last = match.index + token.length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

/** The Markdown *text* as a <div> of elements. */
export function renderMarkdown(text) {
  const root = h("div", { class: "markdown" });
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    if (/^```/.test(line)) {
      const code = [];
      index += 1;
      while (index < lines.length && !/^```/.test(lines[index])) code.push(lines[index++]);
      index += 1;
      root.append(h("pre", {}, h("code", {}, code.join("\n"))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      // headings inside an artifact sit below the page's own (h3 and down)
      const level = Math.min(6, heading[1].length + 2);
      root.append(h(`h${level}`, {}, inline(heading[2])));
      index += 1;
      continue;
    }
    if (/^\s*([-*+]|\d+\.)\s+/.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const list = h(ordered ? "ol" : "ul", {});
      while (index < lines.length && /^\s*([-*+]|\d+\.)\s+/.test(lines[index])) {
        list.append(h("li", {}, inline(lines[index].replace(/^\s*([-*+]|\d+\.)\s+/, ""))));
        index += 1;
      }
      root.append(list);
      continue;
    }
    if (/^>\s?/.test(line)) {
      const quoted = [];
      while (index < lines.length && /^>\s?/.test(lines[index])) {
        quoted.push(lines[index++].replace(/^>\s?/, ""));
      }
      root.append(h("blockquote", {}, inline(quoted.join(" "))));
      continue;
    }
    if (!line.trim()) {
      index += 1;
      continue;
    }
    const paragraph = [];
    while (index < lines.length && lines[index].trim() && !/^(#{1,6}\s|```|>|\s*([-*+]|\d+\.)\s)/.test(lines[index])) {
      paragraph.push(lines[index++]);
    }
    root.append(h("p", {}, inline(paragraph.join(" "))));
  }
  return root;
}
