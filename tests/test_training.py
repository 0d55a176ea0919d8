"""The fine-tuning objectives and loop on tiny models (CPU, seconds)."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from idbooth_lib.config import load_profile
from idbooth_lib.training.finetune import IdentityData, finetune, training_step
from idbooth_lib.training.losses import (
    identity_loss,
    identity_term,
    timestep_weight,
    triplet_loss,
)


def test_losses_match_their_definitions():
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    negative = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert torch.allclose(identity_loss(anchor, positive), torch.tensor([0.0, 1.0]))
    # d(a,p) - d(a,n) + 1: first row 0 - 1 + 1 = 0, second row 1 - 0 + 1 = 2.
    assert torch.allclose(triplet_loss(anchor, positive, negative), torch.tensor([0.0, 2.0]))
    assert torch.allclose(
        triplet_loss(anchor, positive, negative, margin=0.5), torch.tensor([0.0, 1.5])
    )
    reference = torch.nn.TripletMarginWithDistanceLoss(
        distance_function=lambda a, b: 1 - F.cosine_similarity(a, b), margin=1.0, reduction="none"
    )
    a, p, n = torch.randn(3, 5, 8).unbind(0)
    assert torch.allclose(triplet_loss(a, p, n), reference(a, p, n), atol=1e-6)


def test_timestep_weight_and_identity_term():
    assert torch.allclose(
        timestep_weight(torch.tensor([0, 500, 1000])), torch.tensor([1.0, 0.25, 0.0])
    )
    embeddings, weights = torch.randn(4, 8), torch.rand(4)
    positives, negatives = torch.randn(4, 8), torch.randn(4, 8)
    assert identity_term("dreambooth", embeddings, positives, negatives, weights, 1.0) == 0
    expected = (weights * triplet_loss(embeddings, positives, negatives)).mean()
    assert torch.allclose(
        identity_term("idbooth", embeddings, positives, negatives, weights, 1.0), expected
    )
    with pytest.raises(ValueError):
        identity_term("idbooth", embeddings, positives, None, weights, 1.0)
    with pytest.raises(ValueError):
        identity_term("textual-inversion", embeddings, positives, negatives, weights, 1.0)


def _data(recogniser, count=3):
    torch.manual_seed(1)
    images = torch.rand(count, 3, 64, 64) * 2 - 1
    landmarks = torch.tensor([[22.0, 29], [42, 29], [32, 40], [24, 50], [40, 50]]).expand(
        count, 5, 2
    )
    from idbooth_lib.identity.align import warp_to_template

    with torch.no_grad():
        embeddings = recogniser(warp_to_template(images, landmarks))
    classes = torch.rand(count + 1, 3, 64, 64) * 2 - 1
    return IdentityData(images, landmarks.clone(), classes, embeddings, torch.randn(count + 1, 16))


def _config(method, **changes):
    train = load_profile("toy", environ={}).train
    return dataclasses.replace(train, method=method, max_steps=2, batch_size=2, **changes)


def test_identity_gradient_reaches_the_lora_weights(tiny_pipeline, tiny_recogniser):
    from diffusers import DDPMScheduler

    from idbooth_lib.diffusion.basics import encode_prompts
    from idbooth_lib.diffusion.lora import add_lora

    config = _config("idbooth", prior_loss_weight=0.0)
    parameters = add_lora(tiny_pipeline.unet, config)
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    prompts = encode_prompts(tiny_pipeline, [config.instance_prompt, config.class_prompt]).detach()
    terms = training_step(
        tiny_pipeline,
        scheduler,
        tiny_recogniser,
        _data(tiny_recogniser),
        config,
        prompts,
        torch.Generator().manual_seed(0),
    )
    terms["identity"].backward()
    lora = [p for name, p in tiny_pipeline.unet.named_parameters() if "lora" in name]
    assert lora and len(lora) == len(parameters)
    assert sum(p.grad.abs().sum() for p in lora if p.grad is not None) > 0


@pytest.mark.parametrize("method", ["dreambooth", "portraitbooth", "idbooth"])
def test_each_method_trains_and_saves_a_loadable_lora(
    method, tiny_pipeline, tiny_recogniser, tmp_path
):
    history = finetune(
        tiny_pipeline,
        tiny_recogniser,
        _data(tiny_recogniser),
        _config(method),
        tmp_path,
    )
    assert (tmp_path / "pytorch_lora_weights.safetensors").is_file()
    assert history.steps == [1, 2]
    assert ("identity" in history.terms) == (method != "dreambooth")


def test_the_portraitbooth_term_is_the_weighted_cosine_distance_to_the_real_embedding():
    """PortraitBooth pulls only: w(t) · (1 − cos(E(x̂0), e_pos)), averaged; the negatives are
    ignored, however close they are."""
    anchor = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    positive = torch.tensor([[2.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
    weights = torch.tensor([1.0, 0.5, 0.25])
    # cosines 1, 0, -1 → distances 0, 1, 2 → weighted 0, 0.5, 0.5 → mean 1/3
    term = identity_term("portraitbooth", anchor, positive, anchor.clone(), weights, 1.0)
    assert torch.allclose(term, torch.tensor(1 / 3))
    assert torch.allclose(
        term, identity_term("portraitbooth", anchor, positive, None, weights, 1.0)
    )


def test_the_total_loss_adds_the_prior_with_its_weight_and_the_identity_term():
    from idbooth_lib.training.losses import total_loss

    terms = {"instance": torch.tensor(0.5), "prior": torch.tensor(0.25)}
    assert total_loss(terms, 1.0).item() == 0.75  # DreamBooth: no identity term
    assert total_loss(terms, 2.0).item() == 1.0
    terms["identity"] = torch.tensor(0.125)
    assert total_loss(terms, 0.0).item() == 0.625


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_the_clean_latent_estimate_inverts_the_forward_process(prediction_type):
    """Noise x0 to x_t with the scheduler, give the true ε (or v) as the model's output: x̂0 = x0."""
    from diffusers import DDPMScheduler

    from idbooth_lib.diffusion.basics import predict_clean_latents

    scheduler = DDPMScheduler(beta_schedule="scaled_linear", prediction_type=prediction_type)
    generator = torch.Generator().manual_seed(0)
    clean = torch.randn(4, 4, 8, 8, generator=generator)
    noise = torch.randn(4, 4, 8, 8, generator=generator)
    timesteps = torch.tensor([0, 10, 500, 990])
    noisy = scheduler.add_noise(clean, noise, timesteps)
    output = (
        noise if prediction_type == "epsilon" else scheduler.get_velocity(clean, noise, timesteps)
    )
    estimate = predict_clean_latents(scheduler, noisy, output, timesteps)
    torch.testing.assert_close(estimate, clean, atol=2e-3, rtol=1e-3)
    wrong = predict_clean_latents(scheduler, noisy, torch.zeros_like(output), timesteps)
    assert (wrong - clean).abs().max() > 0.1  # and it is the model output that makes it right
