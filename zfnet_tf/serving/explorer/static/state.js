// The page's one declared state: what it knows about the model and the image, and what each
// panel shows. Panels read and write it; nothing else holds page state.
import { pixelImage, strongestFirst } from "./helpers.js";

export const state = {
  // -- the model (set once, from its metadata) --
  api: null, // ModelApi of the shown model
  size: 0, // side of the square images the model takes
  numClasses: 0,
  classNames: null, // labels, or null: classes are shown by number
  layers: [], // [{key, label, numMaps, project, projectMap}] in network order
  hasOcclusion: false, // the export has the occlusion signature
  limits: null, // {maxRequestBytes, maxImagePixels}: what the page sends at most (api.inputLimits)

  // -- the image (panel 1) --
  // Counts chosen images, so that late answers for an image the user has left are dropped.
  generation: 0,
  image: null, // {name, size, pixels (RGB bytes), rgba}

  // -- the answer (panel 2) --
  probabilities: null,
  focusClass: null, // the clicked class, or null: the most probable one

  // -- layers (panel 3) --
  activeLayer: null, // key of the shown tab
  maps: new Map(), // key -> {maps, maximum, thumbnails} of the current image

  // -- projection (panel 4) --
  selection: null, // {key, label, feature} of the projected map
  selectionCount: 0, // counts clicks, so that only the last click's answer is shown

  // -- occlusion (panel 5) --
  occlusion: null, // the running or finished sweep (occlusion.js)
};

// Milliseconds of the last runs (the benchmark and the tests read them).
export const timings = {};

window.explorer = { state, timings };

// The class whose occlusion map is shown: the clicked one, else the most probable.
export function focusClass() {
  if (state.focusClass !== null) return state.focusClass;
  return state.probabilities ? strongestFirst(state.probabilities)[0] : null;
}

export function className(index) {
  return state.classNames && state.classNames[index] !== undefined ? state.classNames[index] : `class ${index}`;
}

// The image as a request input (helpers.requestBody).
export function imageInput() {
  return pixelImage(state.image.pixels, state.image.size);
}
