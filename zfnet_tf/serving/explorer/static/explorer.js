// The explorer page: an image, the model's answer, every layer's maps, a map's deconvnet
// projection and the occlusion maps, all through the model's SavedModel signatures.
// One module per panel (image.js, classes.js, layers.js, projection.js, occlusion.js)
// around one declared state (state.js); this one starts the page.
import { ApiError, ModelApi, REEXPORT, explorerConfig, inputLimits } from "./api.js";
import { loadClassNames } from "./classes.js";
import { $, clearError, element, report, setStatus, showError } from "./dom.js";
import { loadSamples, wireImageInputs } from "./image.js";
import { buildLayerTabs, describeLayers } from "./layers.js";
import { wireOcclusion } from "./occlusion.js";
import { state } from "./state.js";

function setUpModelPicker(models, current) {
  const picker = $("#model-picker");
  if (models.length < 2) {
    picker.hidden = true;
    return;
  }
  for (const name of models) picker.append(element("option", { value: name, text: name }));
  picker.value = current;
  picker.addEventListener("change", () => {
    location.search = `?model=${encodeURIComponent(picker.value)}`;
  });
}

// The model's sizes and layers into the state, and its description at the top.
function describeModel(model, metadata) {
  const signatures = metadata.signatures;
  const classify = signatures.serving_default;
  if (!classify || !classify.inputs.images) {
    throw new ApiError(`Model ${model} has no serving_default signature taking images.`);
  }
  state.size = classify.inputs.images.shape[1];
  state.numClasses = classify.outputs.probabilities ? classify.outputs.probabilities.shape[1] : 0;
  state.layers = describeLayers(signatures);
  state.hasOcclusion = Boolean(signatures.occlusion);
  $("#model-name").textContent = model;
  $("#model-details").textContent =
    `version ${metadata.version} · ${state.size}×${state.size} input · ${state.numClasses} classes · ` +
    `${state.layers.length} layers`;
  $("#crop-note").textContent = `as the model sees it: ${state.size}×${state.size}`;
  buildLayerTabs();
  if (!signatures.decode_bytes) throw new ApiError(`Model ${model} has no decode_bytes signature: ${REEXPORT}`);
}

async function loadModel(model, config) {
  state.api = new ModelApi(model);
  try {
    const metadata = await state.api.metadata();
    state.limits = inputLimits(config, metadata);
    describeModel(model, metadata);
    await loadClassNames(metadata);
  } catch (error) {
    report(error);
    setStatus("The model did not answer: reload the page once the server is up.");
    return;
  }
  document.body.dataset.ready = "true";
  setStatus("Choose an image: drop it here, paste it, pick a file or a sample.");
}

async function start() {
  $("[data-testid=error] button").addEventListener("click", clearError);
  window.addEventListener("unhandledrejection", (event) => report(event.reason));
  const config = await explorerConfig();
  const model = new URLSearchParams(location.search).get("model") || config.default_model;
  setUpModelPicker(config.models || [], model);
  wireImageInputs();
  wireOcclusion();
  loadSamples();
  if (!model) {
    showError("No model to show: open this page as /?model=NAME.");
    return;
  }
  await loadModel(model, config);
}

start().catch(report);
