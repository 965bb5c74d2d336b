// The explorer's pure helpers: request bodies from images, pictures from answers.
// No DOM and no network here, so the tests can check each against NumPy in the browser.
import { VIRIDIS } from "./colormap.js";

// -- requests -------------------------------------------------------------------------------

export function bytesToBase64(bytes) {
  // btoa takes a binary string; build it in chunks (fromCharCode's argument limit).
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

// A marker for an image input: serialized straight to nested JSON lists, since building a
// nested JS array of 224x224x3 numbers only to stringify it doubles the work.
export function pixelImage(pixels, size) {
  return { pixels, size, isPixelImage: true };
}

// One image, RGB values `pixels[(y * size + x) * 3 + c]`, as a batch of one: [[[[r, g, b], ...]]].
export function imagesJson(pixels, size) {
  if (pixels.length !== size * size * 3) {
    throw new Error(`an image of ${size}x${size} RGB needs ${size * size * 3} values, got ${pixels.length}`);
  }
  const rows = new Array(size);
  const cols = new Array(size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      cols[x] = "[" + pixels[i] + "," + pixels[i + 1] + "," + pixels[i + 2] + "]";
    }
    rows[y] = "[" + cols.join(",") + "]";
  }
  return "[[" + rows.join(",") + "]]";
}

// A TF Serving Predict body in the columnar format: {"signature_name", "inputs": {...}}.
// Values are JSON-able, or `pixelImage(...)`.
export function requestBody(signatureName, inputs) {
  const parts = Object.entries(inputs).map(([name, value]) => {
    const json = value && value.isPixelImage ? imagesJson(value.pixels, value.size) : JSON.stringify(value);
    return JSON.stringify(name) + ":" + json;
  });
  return '{"signature_name":' + JSON.stringify(signatureName) + ',"inputs":{' + parts.join(",") + "}}";
}

// The `decode_bytes` request for encoded image files (Uint8Arrays).
export function decodeRequest(files) {
  return requestBody("decode_bytes", { image_bytes: files.map((bytes) => ({ b64: bytesToBase64(bytes) })) });
}

// The length of `decodeRequest` for one file of `byteCount` bytes, without encoding it.
export function decodeRequestSize(byteCount) {
  return requestBody("decode_bytes", { image_bytes: [{ b64: "" }] }).length + 4 * Math.ceil(byteCount / 3);
}

// -- answers --------------------------------------------------------------------------------

// JSON that may hold NaN or Infinity (TF Serving writes them bare): they become null.
export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    const repaired = text.replace(/-?\bInfinity\b|\bNaN\b/g, "null");
    if (repaired === text) throw error;
    return JSON.parse(repaired);
  }
}

// A columnar answer's outputs by name: TF Serving sends a lone output bare, not in an object.
export function outputsOf(body, outputNames) {
  const outputs = body.outputs;
  if (outputNames.length === 1 && !(outputs && !Array.isArray(outputs) && outputNames[0] in outputs)) {
    return { [outputNames[0]]: outputs };
  }
  return outputs;
}

// `decode_bytes`' pixels [S][S][3] (one image) as flat RGB bytes.
export function flattenPixels(image) {
  const size = image.length;
  const pixels = new Uint8ClampedArray(size * size * 3);
  let i = 0;
  for (const row of image) {
    for (const pixel of row) {
      pixels[i++] = pixel[0];
      pixels[i++] = pixel[1];
      pixels[i++] = pixel[2];
    }
  }
  return { size, pixels };
}

export function rgbToRgba(rgb, width, height) {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let p = 0, q = 0; p < width * height; p++, q += 3) {
    rgba[4 * p] = rgb[q];
    rgba[4 * p + 1] = rgb[q + 1];
    rgba[4 * p + 2] = rgb[q + 2];
    rgba[4 * p + 3] = 255;
  }
  return rgba;
}

// A projection [S][S][3] (any sign and scale) as RGBA, as zfnet_tf.visualization's
// projection_to_rgb draws it: grey is 0, stretched by the largest magnitude.
export function projectionToRgba(reconstruction) {
  const height = reconstruction.length;
  const width = reconstruction[0].length;
  // The answer's numbers are float32 printed short: fround restores the exact float32
  // values, so the arithmetic below (in doubles) is NumPy's float64 arithmetic on them.
  const values = new Float64Array(width * height * 3);
  let peak = 0;
  let i = 0;
  for (const row of reconstruction) {
    for (const pixel of row) {
      for (let c = 0; c < 3; c++) {
        const v = Math.fround(pixel[c]);
        values[i++] = v;
        peak = Math.max(peak, Math.abs(v));
      }
    }
  }
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const level = peak === 0 ? 128 : Math.min(255, Math.max(0, 128.0 + (127.0 * values[3 * p + c]) / peak));
      rgba[4 * p + c] = Math.trunc(level);
    }
    rgba[4 * p + 3] = 255;
  }
  return { width, height, data: rgba };
}

// Every map of a `maps_<key>` answer (one image: [h][w][C] levels 0-255) as grey RGBA.
export function thumbnailsRgba(maps) {
  const height = maps.length;
  const width = maps[0].length;
  const channels = maps[0][0].length;
  const pictures = Array.from({ length: channels }, () => new Uint8ClampedArray(width * height * 4));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const levels = maps[y][x];
      const o = 4 * (y * width + x);
      for (let c = 0; c < channels; c++) {
        const picture = pictures[c];
        picture[o] = picture[o + 1] = picture[o + 2] = levels[c];
        picture[o + 3] = 255;
      }
    }
  }
  return { width, height, pictures };
}

// The colour of x in [0, 1] (NaN: transparent), as matplotlib's viridis(x, bytes=True).
export function viridis(x) {
  if (x === null || Number.isNaN(x)) return [0, 0, 0, 0];
  let index = Math.floor(x * 256);
  index = Math.min(255, Math.max(0, index));
  return [VIRIDIS[3 * index], VIRIDIS[3 * index + 1], VIRIDIS[3 * index + 2], 255];
}

// A 2-D grid of an answer's float32 values (null: not measured yet) coloured over
// [low, high], as matplotlib's viridis(Normalize(low, high)(values), bytes=True).
export function colormapRgba(values, low, high) {
  const height = values.length;
  const width = values[0].length;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = values[y][x] === null ? null : Math.fround(values[y][x]);
      const scaled = v === null ? null : high > low ? (v - low) / (high - low) : 0;
      data.set(viridis(scaled), 4 * (y * width + x));
    }
  }
  return { width, height, data };
}

// The box (top, left, bottom, right; bottom and right exclusive) cut out of RGBA pixels.
export function cropRgba(rgba, width, box) {
  const [top, left, bottom, right] = box;
  const w = Math.max(0, right - left);
  const h = Math.max(0, bottom - top);
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const start = 4 * ((top + y) * width + left);
    data.set(rgba.subarray(start, start + 4 * w), 4 * y * w);
  }
  return { width: w, height: h, data };
}

// -- ordering -------------------------------------------------------------------------------

// The k most probable classes, most probable first (ties: lower index first).
export function topK(probabilities, k) {
  return strongestFirst(probabilities)
    .slice(0, k)
    .map((index) => ({ index, probability: probabilities[index] }));
}

// Indices by value, largest first; ties keep index order.
export function strongestFirst(values) {
  return Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b);
}

// Top-left pixels of the occluding square along one side, as zfnet-tf occlusion sweeps it.
export function sweepPositions(size, patch, stride) {
  const starts = [];
  for (let start = 0; start <= size - patch; start += stride) starts.push(start);
  return starts;
}

// "layer3" -> "3" (ZFNet's paper numbering); any other layer key is its own label.
export function layerLabel(key) {
  const match = /^layer(\d+)$/.exec(key);
  return match ? match[1] : key;
}

// Names in network order for the usual naming schemes: digits compare as numbers.
export function naturalCompare(a, b) {
  return a.localeCompare(b, "en", { numeric: true });
}

// Shape of a tensor in TF Serving's metadata JSON: [-1, 64, 64, 3].
export function tensorShape(info) {
  const shape = info && info.tensor_shape;
  if (!shape || shape.unknown_rank) return null;
  return (shape.dim || []).map((d) => Number(d.size ?? -1));
}
