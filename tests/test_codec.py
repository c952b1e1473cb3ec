import numpy as np
import pytest
import torch
from PIL import Image

from audiodiff.audio import slice_audio
from audiodiff.codec import SpectrogramCodec, load_png, model_to_pixels, pixels_to_model, save_png
from audiodiff.config import MelConfig
from audiodiff.evaluation.metrics import spectral_convergence
from audiodiff.vocoders import LibrosaVocoder


@pytest.fixture(scope="module")
def codec():
    return SpectrogramCodec(MelConfig())


@pytest.fixture(scope="module")
def reference_mel():
    from diffusers.pipelines.deprecated.audio_diffusion import Mel

    return Mel()


@pytest.mark.parametrize("genre", ["beats", "pads", "arpeggios"])
def test_slices_and_8bit_images_match_the_reference_mel(codec, reference_mel, music, genre):
    audio = music[genre]
    reference_mel.load_audio(raw_audio=audio)
    count = reference_mel.get_number_of_slices()
    slices = slice_audio(audio, codec.config.slice_size)
    assert len(slices) == count == 2
    for index in range(count):
        np.testing.assert_array_equal(slices[index], reference_mel.get_audio_slice(index))
    expected = np.stack([np.asarray(reference_mel.audio_slice_to_image(index)) for index in range(count)])
    ours = codec.audio_to_pixels(torch.from_numpy(slices)).numpy()
    assert ours.shape == expected.shape == (2, 256, 256)
    difference = np.abs(ours - expected.astype(np.int64))
    assert difference.max() <= 1
    assert (difference == 0).mean() >= 0.99


def test_reference_pads_short_audio_like_we_do(codec, reference_mel):
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, 50000).astype(np.float32)
    reference_mel.load_audio(raw_audio=audio)
    expected = np.asarray(reference_mel.audio_slice_to_image(0))
    ours = codec.audio_to_pixels(torch.from_numpy(slice_audio(audio, codec.config.slice_size)))[0].numpy()
    assert (np.abs(ours - expected.astype(np.int64)) <= 1).mean() >= 0.99


def test_batched_equals_one_by_one_and_model_space(codec, music):
    slices = torch.from_numpy(slice_audio(music["pads"], codec.config.slice_size))
    batch = codec.audio_to_pixels(slices)
    single = torch.cat([codec.audio_to_pixels(item[None]) for item in slices])
    assert torch.equal(batch, single)
    images = codec.encode(slices)
    assert images.shape == (2, 1, 256, 256)
    assert torch.allclose(images, codec.pixels_to_images(batch))
    assert images.min() >= -1 and images.max() <= 1 and images.max() == 1.0  # the loudest bin is 0 dB


def test_16bit_mode_refines_the_8bit_mapping_and_is_visible_in_the_file(codec, music, tmp_path):
    slices = torch.from_numpy(slice_audio(music["arpeggios"], codec.config.slice_size))[:1]
    pixels8 = codec.audio_to_pixels(slices, bits=8)[0].numpy()
    pixels16 = codec.audio_to_pixels(slices, bits=16)[0].numpy()
    assert pixels16.max() == 65535
    assert np.abs(pixels16 / 257.0 - pixels8).max() <= 0.5 + 1e-6
    path = save_png(tmp_path / "x16.png", pixels16, bits=16)
    assert path.read_bytes()[24] == 16  # PNG IHDR bit depth
    assert Image.open(path).mode.startswith("I")
    loaded, bits = load_png(path)
    assert bits == 16 and np.array_equal(loaded, pixels16)
    path8 = save_png(tmp_path / "x8.png", pixels8, bits=8)
    assert path8.read_bytes()[24] == 8
    loaded8, bits8 = load_png(path8)
    assert bits8 == 8 and np.array_equal(loaded8, pixels8)
    # The quantisation error bound shrinks from half an 8-bit step to half a 16-bit step.
    mel_db = codec.power_to_db(codec.mel_power(slices))[0].numpy()
    error8 = np.abs(pixels8 * 80 / 255 - 80 - mel_db).max()
    error16 = np.abs(pixels16 * 80 / 65535 - 80 - mel_db).max()
    assert error8 <= 80 / 255 / 2 + 1e-3 and error16 <= 80 / 65535 / 2 + 1e-4


@pytest.mark.parametrize("bits", [8, 16])
def test_pixels_to_model_space_and_back_is_exact_at_every_level(bits):
    pixels = torch.arange(2**bits)
    images = pixels_to_model(pixels, bits)
    assert images[0] == -1 and images[-1] == 1
    assert torch.equal(model_to_pixels(images, bits), pixels)
    assert torch.equal(pixels_to_model(pixels.numpy().astype(np.uint16), bits), images)  # arrays map alike


def test_quantisers_round_half_up_like_the_reference_mel(small_mel):
    # Halfway between pixels 64 and 65 (exactly 64.5 in float32): half-to-even rounding would give 64.
    halfway = torch.tensor([-0.4941176474094391], dtype=torch.float32)
    assert float((halfway + 1) / 2 * 255) == 64.5
    assert model_to_pixels(halfway, 8).tolist() == [65]
    assert model_to_pixels(torch.tensor([-3.0, 3.0]), 8).tolist() == [0, 255]  # clipped
    # The encoder's dB quantiser: with top_db 255 a pixel is one dB, so these dB values are exact halves.
    codec = SpectrogramCodec(small_mel.replace(top_db=255))
    mel_db = torch.tensor([-252.5, -251.5, -0.5])
    reference = (((mel_db.numpy() + 255) * 255 / 255).clip(0, 255) + 0.5).astype(np.uint8)  # Mel.audio_slice_to_image
    assert codec.db_to_pixels(mel_db, 8).tolist() == reference.tolist() == [3, 4, 255]


def test_png_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png: not a readable image"):
        load_png(bad)
    with pytest.raises(ValueError, match="outside 0..255"):
        save_png(tmp_path / "x.png", np.full((4, 4), 300), bits=8)


def test_decoding_shapes_determinism_and_inputs(small_mel):
    codec = SpectrogramCodec(small_mel)
    images = torch.rand(3, 1, 64, 64) * 2 - 1  # unquantised model output
    first = codec.decode(images, generator=torch.Generator().manual_seed(1))
    second = codec.decode(images, generator=torch.Generator().manual_seed(1))
    assert first.shape == (3, 63 * small_mel.hop_length)
    assert torch.equal(first, second)
    with pytest.raises(ValueError, match="64 mel bands"):
        codec.decode(torch.zeros(1, 1, 32, 64))


def test_round_trip_quality_torch_decoder_no_worse_than_librosa(codec, music):
    """Spectral convergence of encode -> decode on real-length slices, same images for both decoders."""
    slices = torch.from_numpy(
        np.concatenate([slice_audio(music[genre], codec.config.slice_size)[:1] for genre in ("pads", "beats")])
    )
    images = codec.encode(slices)
    ours = codec.decode(images, generator=torch.Generator().manual_seed(0))
    reference = codec.decode(images, vocoder=LibrosaVocoder(codec.config), generator=torch.Generator().manual_seed(0))
    assert ours.shape == reference.shape == (2, 255 * 512)
    sc_ours = spectral_convergence(slices, ours)
    sc_reference = spectral_convergence(slices, reference)
    print(f"spectral convergence: torch {sc_ours.tolist()} librosa {sc_reference.tolist()}")
    assert (sc_ours < 0.25).all()
    assert sc_ours.mean() <= sc_reference.mean() + 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(codec, music):
    slices = torch.from_numpy(slice_audio(music["beats"], codec.config.slice_size))
    cpu = codec.audio_to_pixels(slices)
    gpu = SpectrogramCodec(codec.config).cuda().audio_to_pixels(slices.cuda()).cpu()
    assert ((cpu - gpu).abs() <= 1).float().mean() >= 0.999
    audio = SpectrogramCodec(codec.config).cuda().decode(codec.pixels_to_images(cpu).cuda())
    assert audio.is_cuda and audio.shape == (2, 255 * 512)


def test_wide_png_is_refused_from_its_header(tmp_path):
    from audiodiff.codec import MAX_PNG_WIDTH

    path = tmp_path / "wide.png"
    Image.new("L", (MAX_PNG_WIDTH + 1, 64)).save(path)  # a few KB that would decode to hours of audio
    with pytest.raises(ValueError, match=f"wide.png: image is {MAX_PNG_WIDTH + 1} frames wide, more than"):
        load_png(path)
    Image.new("L", (100, 64)).save(path)
    assert load_png(path)[0].shape == (64, 100)


def test_vocoders_take_the_codec_generator_and_griffin_lim_momentum_below_one(small_mel):
    import inspect

    from audiodiff.vocoders import GriffinLimVocoder, Vocoder, griffin_lim

    assert "generator" in inspect.signature(Vocoder.__call__).parameters
    received = []

    def recording_vocoder(mel_power, generator=None):  # any callable of the protocol's form works
        received.append(generator)
        return torch.zeros(len(mel_power), 10)

    generator = torch.Generator().manual_seed(0)
    SpectrogramCodec(small_mel, vocoder=recording_vocoder).decode(torch.zeros(1, 1, 64, 8), generator=generator)
    assert received == [generator]
    for momentum in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
            GriffinLimVocoder(small_mel, momentum=momentum)
        with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
            griffin_lim(torch.ones(1, 257, 8), 512, 128, torch.hann_window(512), momentum=momentum)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole chunk bytes) of each chunk of a PNG file, in order."""
    import struct

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        chunks.append((data[offset + 4 : offset + 8], data[offset : offset + 12 + length]))
        offset += 12 + length
    return chunks


@pytest.mark.parametrize("bits", [8, 16])
def test_png_carries_its_mel_settings_and_the_reference_sees_the_same_pixels(
    small_mel, music, tmp_path, monkeypatch, bits
):
    """The mel settings travel in one tEXt chunk before the pixels. Removing it gives back, byte for byte, the file
    written without it (today's and the reference's format), and every reader of the pixels (PIL, diffusers' `Mel`,
    a `datasets` Image column) sees the same image with and without it."""
    import datasets
    from diffusers.pipelines.deprecated.audio_diffusion import Mel

    from audiodiff.codec import PNG_MEL_KEY, encode_png, load_png_with_mel, png_mel_text

    audio = torch.from_numpy(music["pads"][None, : small_mel.slice_size])
    pixels = SpectrogramCodec(small_mel).audio_to_pixels(audio, bits)[0].numpy()
    plain = save_png(tmp_path / "plain.png", pixels, bits).read_bytes()
    carrying = save_png(tmp_path / "carrying.png", pixels, bits, mel_config=small_mel).read_bytes()
    assert plain == encode_png(pixels, bits) and carrying == encode_png(pixels, bits, small_mel)

    chunks = _png_chunks(carrying)
    text = [chunk for kind, chunk in chunks if kind == b"tEXt"]
    assert len(text) == 1 and [kind for kind, _ in chunks].index(b"tEXt") < [kind for kind, _ in chunks].index(b"IDAT")
    assert text[0][8:-4] == PNG_MEL_KEY.encode() + b"\0" + png_mel_text(small_mel, bits).encode()
    assert carrying[:8] + b"".join(chunk for kind, chunk in chunks if kind != b"tEXt") == plain
    # What the chunk costs: 12 bytes of chunk framing, the key, a separator and the JSON (about 135 bytes).
    assert len(carrying) - len(plain) == 12 + len(PNG_MEL_KEY) + 1 + len(png_mel_text(small_mel, bits)) < 160
    assert png_mel_text(small_mel, bits) == (
        f'{{"bits":{bits},"mel":{{"hop_length":128,"n_fft":512,"n_iter":16,"sample_rate":16000,"top_db":80,'
        '"x_res":64,"y_res":64}}'
    )

    assert load_png_with_mel(tmp_path / "carrying.png")[2] == small_mel
    assert load_png_with_mel(tmp_path / "plain.png")[2] is None
    for path in ("plain.png", "carrying.png"):
        read, depth = load_png(tmp_path / path)
        assert depth == bits
        np.testing.assert_array_equal(read, pixels)
    with Image.open(tmp_path / "plain.png") as one, Image.open(tmp_path / "carrying.png") as other:
        assert one.mode == other.mode and one.tobytes() == other.tobytes()
    column = datasets.Dataset.from_dict(
        {"image": [{"bytes": plain, "path": None}, {"bytes": carrying, "path": None}]},
        features=datasets.Features({"image": datasets.Image()}),
    )["image"]
    assert column[0].tobytes() == column[1].tobytes()
    if bits == 8:  # the reference decodes 8-bit images only
        import librosa.feature.inverse

        # librosa's Griffin-Lim starts from a random phase drawn from a fresh generator: fix its seed.
        griffin_lim = librosa.feature.inverse.griffinlim
        monkeypatch.setattr(
            librosa.feature.inverse, "griffinlim", lambda *args, **kwargs: griffin_lim(*args, random_state=0, **kwargs)
        )
        reference = Mel(**small_mel.to_dict())
        decoded = []
        for path in ("plain.png", "carrying.png"):
            with Image.open(tmp_path / path) as image:
                decoded.append(reference.image_to_audio(image))
        assert np.abs(decoded[0]).max() > 0
        np.testing.assert_array_equal(decoded[0], decoded[1])


def test_a_malformed_mel_chunk_is_one_line_naming_the_file(tmp_path, small_mel):
    from PIL.PngImagePlugin import PngInfo

    from audiodiff.codec import PNG_MEL_KEY, load_png_with_mel

    for name, text, reason in [
        ("junk.png", "not json", "text chunk is not valid JSON settings"),
        ("hostile.png", '{"bits": 8, "mel": {"y_res": 64, "n_fft": 99999999}}', "text chunk holds invalid mel"),
        ("unknown.png", '{"bits": 8, "mel": {"y_res": 64, "colour": 3}}', "text chunk holds invalid mel"),
    ]:
        info = PngInfo()
        info.add_text(PNG_MEL_KEY, text)
        Image.fromarray(np.zeros((64, 8), dtype=np.uint8)).save(tmp_path / name, pnginfo=info)
        with pytest.raises(ValueError) as error:
            load_png_with_mel(tmp_path / name)
        assert str(error.value).startswith(f"{tmp_path / name}: its {PNG_MEL_KEY} {reason}"), str(error.value)
        assert "\n" not in str(error.value) and str(error.value).count(str(tmp_path)) == 1
        assert load_png(tmp_path / name)[0].shape == (64, 8)  # the pixels alone stay readable
