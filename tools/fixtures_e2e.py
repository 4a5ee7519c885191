"""`e2e` fixtures: image files and prompts through the whole OpenCLIP pipeline.

    .venv/bin/python tools/gen_fixtures.py e2e

writes tests/fixtures/e2e/:
  open_clip_model.safetensors  a tiny random-weight OpenCLIP `CLIP` with the real tokenizer's
                               vocabulary (49408 ids; text width 8 keeps it under 1 MB in f16),
                               stored in F16
  open_clip_config.json        {"model_cfg", "preprocess_cfg"} as OpenCLIP writes it
  expected.json                the image files and prompts, and what OpenCLIP 3.3.0 computes in
                               fp32 on the stored weights upcast: image_transform(...) of each
                               file, tokenizer(prompts, context_length) and encode_image /
                               encode_text (normalize=True), get_logits(...)[0], and zero-shot:
                               build_zero_shot_classifier(LABELS, simple templates) and
                               softmax(logit_scale.exp() * image @ classifier)
The images are files the `preprocess` fixtures already hold (tests/fixtures/preprocess/img).
"""

import os

import torch

import fixtures_engine as fe
import gen_fixtures as gf

OUT = os.path.join(gf.FIX, "e2e")
IMAGES = ["tests/fixtures/preprocess/img/p_601x589.png",
          "tests/fixtures/preprocess/img/jpg_420.jpg",
          "tests/fixtures/preprocess/img/pil_LA.png"]
PROMPTS = ["a photo of a cat.", "A DIAGRAM of   two dogs!", "le caf\u00e9 d\u2019\u00e9t\u00e9 \U0001F431",
           "", "word " * 40]
CONFIG = {"embed_dim": 8,
          "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 16, "layers": 1,
                         "head_width": 8},
          "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 8, "heads": 2,
                       "layers": 1}}
LABELS = ["cat", "dog", "red square", "caf\u00e9"]
PREPROCESS = {"mean": [0.48145466, 0.4578275, 0.40821073],
              "std": [0.26862954, 0.26130258, 0.27577711],
              "interpolation": "bicubic", "resize_mode": "shortest"}


def generate(vers):
    import open_clip
    import safetensors.torch
    from PIL import Image

    gf.fresh_dir(OUT)
    torch.manual_seed(0)
    model = fe._randomize(open_clip.model.CLIP(**CONFIG), 31).eval()
    # store F16; the reference runs on exactly those values, upcast
    sd16 = {k: v.half() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(sd16, os.path.join(OUT, "open_clip_model.safetensors"))
    model.load_state_dict({k: v.float() for k, v in sd16.items()})
    gf.write_json(os.path.join(OUT, "open_clip_config.json"),
                  {"model_cfg": CONFIG, "preprocess_cfg": PREPROCESS})

    pre = open_clip.image_transform(CONFIG["vision_cfg"]["image_size"], is_train=False,
                                    mean=PREPROCESS["mean"], std=PREPROCESS["std"],
                                    interpolation=PREPROCESS["interpolation"],
                                    resize_mode=PREPROCESS["resize_mode"])
    pixels = torch.stack([pre(Image.open(os.path.join(gf.ROOT, p))) for p in IMAGES])
    tokens = open_clip.tokenizer.tokenize(PROMPTS, context_length=CONFIG["text_cfg"]["context_length"])
    with torch.no_grad():
        img = model.encode_image(pixels, normalize=True)
        txt = model.encode_text(tokens, normalize=True)
        logits = model.get_logits(pixels, tokens)[0]
        # zero-shot: OpenCLIP's classifier from the "simple" templates of zero_shot_metadata
        import json as _json
        with open(os.path.join(gf.ROOT, "data", "zero_shot_metadata.json")) as f:
            simple = _json.load(f)["SIMPLE_IMAGENET_TEMPLATES"]
        ctx = CONFIG["text_cfg"]["context_length"]
        clf = open_clip.build_zero_shot_classifier(
            model, tokenizer=lambda t: open_clip.tokenizer.tokenize(t, context_length=ctx),
            classnames=LABELS, templates=simple, num_classes_per_batch=2, device="cpu",
            use_tqdm=False)
        probs = (model.logit_scale.exp() * img @ clf).softmax(dim=-1)
    gf.write_json(os.path.join(OUT, "expected.json"), {
        "generator": "tools/gen_fixtures.py e2e", "versions": vers,
        "images": IMAGES, "prompts": PROMPTS,
        "tokens": tokens.tolist(),
        "image_embeddings": img.tolist(), "text_embeddings": txt.tolist(),
        "logits": logits.tolist(),
        "zero_shot": {"labels": LABELS, "templates": "simple",
                      "classifier": clf.T.tolist(), "probs": probs.tolist()}})
    print("e2e: %d images, %d prompts -> %s" % (len(IMAGES), len(PROMPTS), OUT))
