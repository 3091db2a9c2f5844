"""Model files given in the config are checked when the workflow is planned (issue 18,
trial 8): complete, the right kind of model, the config's classes and channels."""

import pytest

from yl8c4net.errors import ConfigError
from yl8c4net.pipeline.model_files import check_classifier_weights, check_detector_weights

CLASSES = ("GALAXY", "STAR", "QSO")


def test_real_checkpoints_pass(model_checkpoints):
    check_detector_weights(model_checkpoints / "detector.pt")
    check_classifier_weights(model_checkpoints / "conv4net.pt", CLASSES, 3)


def test_truncated_weights_are_named_at_planning(model_checkpoints, tmp_path):
    data = (model_checkpoints / "detector.pt").read_bytes()
    for keep in (len(data) // 2, len(data) - 100, 64):
        cut = tmp_path / f"cut-{keep}.pt"
        cut.write_bytes(data[:keep])
        with pytest.raises(ConfigError, match=rf"detector.weights: {cut}: not a complete PyTorch checkpoint"):
            check_detector_weights(cut)


def test_corrupt_member_is_found(model_checkpoints, tmp_path):
    data = bytearray((model_checkpoints / "conv4net.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor's storage
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="corrupt|unreadable|not a complete"):
        check_classifier_weights(bad, CLASSES, 3)


def test_models_given_in_the_wrong_place_are_refused(model_checkpoints):
    with pytest.raises(ConfigError, match="is a Conv4Net classifier checkpoint, not YOLO weights"):
        check_detector_weights(model_checkpoints / "conv4net.pt")
    with pytest.raises(ConfigError, match="is an ultralytics ClassificationModel, not a detection model"):
        check_detector_weights(model_checkpoints / "yolo-cls.pt")
    with pytest.raises(ConfigError, match="is YOLO detector weights, not a Conv4Net checkpoint"):
        check_classifier_weights(model_checkpoints / "detector.pt", CLASSES, 3)


def test_classifier_for_other_classes_or_channels_is_refused(model_checkpoints):
    with pytest.raises(
        ConfigError, match=r"trained for classes \['GALAXY', 'STAR', 'QSO'\], expected \['STAR', 'QSO'\]"
    ):
        check_classifier_weights(model_checkpoints / "conv4net.pt", ("STAR", "QSO"), 3)
    with pytest.raises(ConfigError, match=r"trained on 3 channels, the config gives 5 \(training_data.extra_bands\)"):
        check_classifier_weights(model_checkpoints / "conv4net.pt", CLASSES, 5)


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    junk = tmp_path / "weights.pt"
    junk.write_bytes(b"weights")
    with pytest.raises(ConfigError, match=rf"detector.weights: {junk}: not a complete PyTorch checkpoint"):
        check_detector_weights(junk)


def test_a_model_the_workflow_wrote_is_checked_against_its_recorded_checksum(tmp_path, model_checkpoints):
    """The workflow's own trained detector truncated or changed in place is caught by the job
    that would load it, in one line naming the file (not two retries of tracebacks); a file
    with no record is still checked for its kind."""
    import shutil

    from yl8c4net.errors import ModelFileError
    from yl8c4net.pipeline.model_files import check_model_before_use, checksum_record, record_model_checksum

    weights = tmp_path / "yolov8.pt"
    shutil.copyfile(model_checkpoints / "detector.pt", weights)
    record_model_checksum(weights)
    check_model_before_use(weights, "detector")  # as written: fine
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError) as caught:
        check_model_before_use(weights, "detector")
    message = str(caught.value)
    assert message.startswith(f"{weights}: changed or cut short since the workflow wrote it") and "\n" not in message
    assert checksum_record(weights).name in message
    checksum_record(weights).unlink()  # no record: the structural check still catches it
    with pytest.raises(ModelFileError, match="not a complete PyTorch checkpoint"):
        check_model_before_use(weights, "detector")
    with pytest.raises(ModelFileError, match="is a Conv4Net classifier checkpoint, not YOLO weights"):
        check_model_before_use(model_checkpoints / "conv4net.pt", "detector")
    with pytest.raises(ModelFileError, match="does not exist"):
        check_model_before_use(tmp_path / "gone.pt", "classifier", ["GALAXY", "STAR", "QSO"], 3)
