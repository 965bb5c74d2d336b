// Building the page's elements, and its two messages: the error area and the status line.
import { ApiError } from "./api.js";

export const $ = (selector, root = document) => root.querySelector(selector);

export function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

export function canvasFrom(picture, className = "") {
  const canvas = element("canvas", { width: picture.width, height: picture.height, className });
  if (picture.width > 0 && picture.height > 0) {
    canvas.getContext("2d").putImageData(new ImageData(picture.data, picture.width, picture.height), 0, 0);
  }
  return canvas;
}

export function figure(canvas, caption, extra = {}) {
  return element("figure", extra, [canvas, element("figcaption", { text: caption })]);
}

export function format(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e5)) return value.toExponential(2);
  return value.toFixed(magnitude < 10 ? 3 : 1);
}

// -- messages -------------------------------------------------------------------------------

export function showError(message) {
  const box = $("[data-testid=error]");
  $(".error-message", box).textContent = message;
  box.hidden = false;
}

export function clearError() {
  $("[data-testid=error]").hidden = true;
}

// Any failure, in the error area: the server's own words for an ApiError.
export function report(error) {
  console.error(error);
  showError(error instanceof ApiError ? error.message : `Something went wrong: ${error.message || error}`);
}

export function setStatus(text) {
  $("#status").textContent = text;
}
