// Panel 2, the model's answer: the top classes of the image, and their labels.
import { ApiError } from "./api.js";
import { $, element, report } from "./dom.js";
import { requestBody, topK } from "./helpers.js";
import { renderOcclusion } from "./occlusion.js";
import { className, focusClass, imageInput, state, timings } from "./state.js";

const TOP_K = 5;
// tensorflow_model_server's batch limit must let a class-names request through (zfnet-tf
// serve's default: 64).
const CLASS_NAMES_BATCH = 64;

export async function loadClassNames(metadata) {
  if (metadata.classNames && metadata.classNames.length) {
    state.classNames = metadata.classNames;
    return;
  }
  // tensorflow_model_server's metadata has no class names: the export serves them itself.
  if (!state.api.signatures.class_names || state.numClasses === 0) return;
  const batches = [];
  for (let start = 0; start < state.numClasses; start += CLASS_NAMES_BATCH) {
    const indices = [];
    for (let i = start; i < Math.min(start + CLASS_NAMES_BATCH, state.numClasses); i++) indices.push(i);
    batches.push(state.api.predict("class_names", requestBody("class_names", { class_index: indices })));
  }
  try {
    state.classNames = (await Promise.all(batches)).flatMap((outputs) => outputs.class_name);
  } catch (error) {
    report(new ApiError(`No class names (classes are shown by number): ${error.message}`));
  }
}

export async function classify(generation, started) {
  const outputs = await state.api.predict("serving_default", requestBody("serving_default", { images: imageInput() }));
  if (generation !== state.generation) return;
  state.probabilities = outputs.probabilities[0];
  renderClasses();
  timings.classes = performance.now() - started;
}

export function clearClasses() {
  state.probabilities = null;
  state.focusClass = null;
  $("[data-testid=top-classes]").replaceChildren();
}

function classRow(index, probability, rank) {
  const row = element("li", { className: "class-row", title: "show this class's occlusion map" }, [
    element("span", { className: "rank", text: String(rank + 1) }),
    element("span", { className: "name", text: className(index) }),
    element("span", { className: "bar" }, [element("span", { className: "fill" })]),
    element("span", { className: "probability", text: `${(100 * probability).toFixed(1)}%` }),
  ]);
  row.dataset.testid = "class-row";
  row.dataset.class = String(index);
  row.dataset.probability = String(probability);
  $(".fill", row).style.width = `${Math.max(0.5, 100 * probability)}%`;
  row.classList.toggle("focus", index === focusClass());
  row.addEventListener("click", () => {
    state.focusClass = index;
    renderClasses();
    renderOcclusion();
  });
  return row;
}

function renderClasses() {
  const list = $("[data-testid=top-classes]");
  const rows = topK(state.probabilities, TOP_K).map(({ index, probability }, rank) => classRow(index, probability, rank));
  list.replaceChildren(...rows);
  list.dataset.generation = String(state.generation);
}
