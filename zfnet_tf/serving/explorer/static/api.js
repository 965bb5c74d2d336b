// TF Serving's REST API for one model: metadata and Predict, with errors as sentences.
import { outputsOf, parseJson, tensorShape } from "./helpers.js";

export class ApiError extends Error {}

// What to do about an export that lacks a signature the page needs.
export const REEXPORT = "export it again with this zfnet-tf (zfnet-tf export) to get the explorer's signatures.";

export class ModelApi {
  constructor(model) {
    this.model = model;
    this.base = `/v1/models/${encodeURIComponent(model)}`;
    this.signatures = {};
  }

  async request(path, options = {}) {
    let response;
    try {
      response = await fetch(this.base + path, options);
    } catch (error) {
      throw new ApiError(`Cannot reach the model server (${error.message}). Is it still running?`);
    }
    const text = await response.text();
    let body = null;
    try {
      body = parseJson(text);
    } catch (error) {
      body = null;
    }
    if (!response.ok || body === null || body.error) {
      const detail = body && body.error ? body.error : text.slice(0, 300) || response.statusText;
      throw new ApiError(`HTTP ${response.status}: ${detail}`);
    }
    return body;
  }

  // Signatures (inputs and outputs with dtypes and shapes) and, from this project's
  // server, the class names.
  async metadata() {
    const body = await this.request("/metadata");
    const map = (body.metadata && body.metadata.signature_def && body.metadata.signature_def.signature_def) || {};
    for (const [name, signature] of Object.entries(map)) {
      if (name.startsWith("__")) continue;
      const describe = (tensors) =>
        Object.fromEntries(
          Object.entries(tensors || {}).map(([key, info]) => [key, { dtype: info.dtype, shape: tensorShape(info) }]),
        );
      this.signatures[name] = { inputs: describe(signature.inputs), outputs: describe(signature.outputs) };
    }
    return {
      version: body.model_spec ? body.model_spec.version : "",
      signatures: this.signatures,
      classNames: body.metadata ? body.metadata.class_names || null : null,
      imageTransform: body.metadata ? body.metadata.image_transform || null : null,
    };
  }

  // Runs a signature on a prepared body (helpers.requestBody); its outputs by name.
  async predict(signatureName, body, signal) {
    const signature = this.signatures[signatureName];
    if (!signature) {
      throw new ApiError(
        `Model ${this.model} has no ${signatureName} signature: ${REEXPORT}`,
      );
    }
    const answer = await this.request(":predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
      signal,
    });
    return outputsOf(answer, Object.keys(signature.outputs));
  }
}

// The page's settings: the models the server offers (this project's server and
// `zfnet-tf explore` both answer /explorer/config.json).
export async function explorerConfig() {
  try {
    const response = await fetch("/explorer/config.json");
    if (response.ok) return await response.json();
  } catch (error) {
    // fall through: the page then needs ?model=
  }
  return { models: [], default_model: null };
}

// What the page sends at most, so that it refuses a file before sending it: the server's
// request-size limit (`max_request_bytes` in /explorer/config.json) and the export's pixel
// limit (`max_image_pixels` of its image transform, in the metadata); TF Serving's and
// zfnet-tf's defaults (64 MiB, 64 Mi pixels) where the server does not say.
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 2 ** 20;
export const DEFAULT_MAX_IMAGE_PIXELS = 64 * 2 ** 20;

export function inputLimits(config, metadata) {
  const transform = metadata.imageTransform || {};
  return {
    maxRequestBytes: Number(config.max_request_bytes) || DEFAULT_MAX_REQUEST_BYTES,
    maxImagePixels: Number(transform.max_image_pixels) || DEFAULT_MAX_IMAGE_PIXELS,
  };
}
