// Panel 5, occlusion (Zeiler & Fergus, Fig. 7): a grey square swept over the image, and how
// the focus class's probability and one map's total activation change with its position.
import { ApiError } from "./api.js";
import { $, canvasFrom, clearError, element, format, report } from "./dom.js";
import { colormapRgba, requestBody, strongestFirst, sweepPositions, viridis } from "./helpers.js";
import { className, focusClass, imageInput, state, timings } from "./state.js";

// Requests in flight: enough to keep the server busy while the page draws the rows it has.
const OCCLUSION_IN_FLIGHT = 2;
// The square moves by 1/16 of the image.
const STEPS = 16;

export function wireOcclusion() {
  $("[data-testid=occlusion-run]").addEventListener("click", () => runOcclusion().catch(report));
  $("#occlusion-patch").addEventListener("change", () => {
    if (state.occlusion) runOcclusion().catch(report);
  });
}

export function resetOcclusion() {
  state.occlusion = null;
  const progress = $("#occlusion-progress");
  progress.value = 0;
  progress.hidden = true;
  const panel = $("[data-testid=occlusion]");
  panel.replaceChildren(
    element("p", {
      className: "hint",
      text: "Slide a grey square over the image and watch the answer change (Zeiler & Fergus, Fig. 7).",
    }),
  );
  delete panel.dataset.complete;
}

// A new sweep for the current image with the chosen square; every cell unknown (null).
function newRun() {
  const size = state.image.size;
  const patch = Math.max(1, Math.round(size * Number($("#occlusion-patch").value)));
  const stride = Math.max(1, Math.floor(size / STEPS));
  const starts = sweepPositions(size, patch, stride);
  return {
    generation: state.generation,
    patch,
    stride,
    starts,
    probabilities: starts.map(() => null), // [row][column][class]
    totals: starts.map(() => null), // [row]{layer key: [column][map]}
    done: 0,
    unoccluded: null, // {probabilities, totals} without the square
  };
}

// One `occlusion` request: the square at each (top, left); probabilities and per-layer totals.
async function occlude(run, tops, lefts) {
  const inputs = { images: imageInput(), top: [tops], left: [lefts], patch_size: [run.patch] };
  const outputs = await state.api.predict("occlusion", requestBody("occlusion", inputs));
  const totals = {};
  for (const layer of state.layers) totals[layer.key] = outputs[`total_${layer.key}`][0];
  return { probabilities: outputs.probabilities[0], totals };
}

function mapValues(object, f) {
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, f(v)]));
}

// The sweep's requests: the square off the image (the unoccluded answer, for the scale of the
// maps), then one row of positions each.
function occlusionJobs(run) {
  const jobs = [async () => {
    const answer = await occlude(run, [-run.patch], [-run.patch]);
    run.unoccluded = { probabilities: answer.probabilities[0], totals: mapValues(answer.totals, (t) => t[0]) };
  }];
  run.starts.forEach((top, r) => {
    jobs.push(async () => {
      const answer = await occlude(run, run.starts.map(() => top), run.starts);
      run.probabilities[r] = answer.probabilities;
      run.totals[r] = answer.totals;
    });
  });
  return jobs;
}

// Runs `jobs` a few at a time, drawing after each, until done or a newer sweep replaces `run`.
async function runJobs(run, jobs, progress) {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length && state.occlusion === run) {
      await jobs[next++]();
      if (state.occlusion !== run) return;
      run.done += 1;
      progress.value = run.done;
      renderOcclusion();
    }
  };
  await Promise.all(Array.from({ length: OCCLUSION_IN_FLIGHT }, worker));
}

export async function runOcclusion() {
  if (!state.image) throw new ApiError("Choose an image first.");
  if (!state.hasOcclusion) throw new ApiError("This export has no occlusion signature.");
  clearError();
  const started = performance.now();
  const run = newRun();
  state.occlusion = run;
  const progress = $("#occlusion-progress");
  Object.assign(progress, { hidden: false, max: run.starts.length + 1, value: 0 });
  const button = $("[data-testid=occlusion-run]");
  button.disabled = true;
  renderOcclusion();
  try {
    await runJobs(run, occlusionJobs(run), progress);
  } finally {
    button.disabled = !state.image;
  }
  if (state.occlusion !== run) return;
  timings.occlusion = performance.now() - started;
  $("[data-testid=occlusion]").dataset.complete = "true";
  progress.hidden = true;
}

// The feature whose occlusion map is shown: the clicked one, else (as in the paper) the
// strongest map of the top layer on the unoccluded image.
function occlusionFeature(run) {
  if (state.selection) return state.selection;
  const top = state.layers[state.layers.length - 1];
  if (!top || !run.unoccluded) return null;
  const totals = run.unoccluded.totals[top.key];
  return { key: top.key, label: top.label, feature: strongestFirst(totals)[0], strongest: true };
}

// The top of a map's colour scale: its largest value or the unoccluded one, so that the
// colours span what the square changes (0 stays the bottom: "the square killed it").
// The float32 values themselves (fround): the scale is exactly the largest of them.
function scaleTop(grid, unoccluded) {
  const values = grid.flat().filter((v) => v !== null).map(Math.fround);
  return Math.max(unoccluded === null ? 0 : Math.fround(unoccluded), ...values, 0);
}

// A heat map of `value(r, c)` over the measured rows (null elsewhere) with its legend.
function heatFigure(run, value, unoccluded, caption, dataset) {
  const grid = run.starts.map((_, r) => run.starts.map((__, c) => (run.probabilities[r] ? value(r, c) : null)));
  const high = scaleTop(grid, unoccluded);
  const canvas = canvasFrom(colormapRgba(grid, 0, high), "heat");
  Object.assign(canvas.dataset, dataset, { high: String(high) });
  return occlusionFigure(run, canvas, caption, 0, high, unoccluded, (r, c) => format(value(r, c)));
}

function classFigure(run, cls) {
  const unoccluded = run.unoccluded ? run.unoccluded.probabilities[cls] : null;
  return heatFigure(run, (r, c) => run.probabilities[r][c][cls], unoccluded, `probability of “${className(cls)}”`, {
    map: "class",
    class: String(cls),
  });
}

function featureFigure(run, chosen) {
  const unoccluded = run.unoccluded ? run.unoccluded.totals[chosen.key][chosen.feature] : null;
  const what = `total activation of layer ${chosen.label}, map ${chosen.feature}` +
    (chosen.strongest ? " (the top layer's strongest)" : "");
  return heatFigure(run, (r, c) => run.totals[r][chosen.key][c][chosen.feature], unoccluded, what, {
    map: "feature",
    layer: chosen.label,
    feature: String(chosen.feature),
  });
}

export function renderOcclusion() {
  const run = state.occlusion;
  if (!run || run.generation !== state.generation) return;
  const cls = focusClass();
  const chosen = occlusionFeature(run);
  const figures = [];
  if (cls !== null) figures.push(classFigure(run, cls));
  if (chosen) figures.push(featureFigure(run, chosen));
  const note = element("p", {
    className: "hint",
    text: `A ${run.patch}×${run.patch} square in the model's mean colour, moved ${run.stride} pixels at a time: ` +
      `each cell is the answer with the square's top-left corner there. ` +
      (run.done <= run.starts.length ? `${run.done} of ${run.starts.length + 1} requests done.` : ""),
  });
  const panel = $("[data-testid=occlusion]");
  panel.replaceChildren(element("div", { className: "figures" }, figures), note);
  panel.dataset.patch = String(run.patch);
  panel.dataset.stride = String(run.stride);
}

function legend(low, high) {
  const node = element("div", { className: "legend" }, [
    element("span", { text: format(low) }),
    element("span", { className: "ramp" }),
    element("span", { text: format(high) }),
  ]);
  const stops = [0, 0.25, 0.5, 0.75, 1].map((x) => `rgb(${viridis(x).slice(0, 3).join(",")}) ${100 * x}%`);
  $(".ramp", node).style.background = `linear-gradient(to right, ${stops.join(",")})`;
  return node;
}

function occlusionFigure(run, canvas, caption, low, high, unoccluded, describe) {
  canvas.addEventListener("mousemove", (event) => {
    const bounds = canvas.getBoundingClientRect();
    const c = Math.floor(((event.clientX - bounds.left) / bounds.width) * run.starts.length);
    const r = Math.floor(((event.clientY - bounds.top) / bounds.height) * run.starts.length);
    if (run.probabilities[r] && c >= 0 && c < run.starts.length) {
      canvas.title = `square at row ${run.starts[r]}, column ${run.starts[c]}: ${describe(r, c)}`;
    }
  });
  return element("figure", { className: "occlusion-figure" }, [
    canvas,
    element("figcaption", { text: caption }),
    legend(low, high),
    element("small", { className: "unoccluded", text: `without the square: ${format(unoccluded)}` }),
  ]);
}
