"""Conformance of image drivers: offline builds, boot tests and instance replacement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from conformance.run import Run
from patchwarden.drivers.protocols import HealthResult, ImageDriver
from patchwarden.errors import DriverError


@dataclass(frozen=True)
class ImageCase:
    """An image, an instance built from it, and packages to patch the image with."""

    image: str
    instance: str
    packages: Mapping[str, str]


class ImageConformance:
    """Fixtures: ``run``, ``image_driver``, ``image_case``."""

    def test_the_latest_version_is_what_its_instance_runs(
        self, run: Run, image_driver: ImageDriver, image_case: ImageCase
    ) -> None:
        latest = run(image_driver.latest(image_case.image))
        assert latest
        assert run(image_driver.image_of(image_case.instance)) == latest

    def test_build_makes_a_new_version_that_becomes_the_latest(
        self, run: Run, image_driver: ImageDriver, image_case: ImageCase
    ) -> None:
        c = image_case
        old = run(image_driver.latest(c.image))
        new = run(image_driver.build(c.image, c.packages))
        assert new and new != old
        assert run(image_driver.latest(c.image)) == new
        assert run(image_driver.image_of(c.instance)) == old, "building replaces no instance"

    def test_a_built_version_boots_and_an_unknown_one_does_not(
        self, run: Run, image_driver: ImageDriver, image_case: ImageCase
    ) -> None:
        new = run(image_driver.build(image_case.image, image_case.packages))
        result = run(image_driver.boot_test(new))
        assert isinstance(result, HealthResult) and result.ok, result.detail
        unknown = run(image_driver.boot_test("no-such-image-version"))
        assert not unknown.ok and unknown.detail, "a failed boot test says why"

    def test_replace_moves_the_instance_to_the_new_version_once(
        self, run: Run, image_driver: ImageDriver, image_case: ImageCase
    ) -> None:
        c = image_case
        new = run(image_driver.build(c.image, c.packages))
        run(image_driver.replace(c.instance, new))
        assert run(image_driver.image_of(c.instance)) == new
        run(image_driver.replace(c.instance, new))  # already there: nothing happens
        assert run(image_driver.image_of(c.instance)) == new

    def test_unknown_image_and_version_are_driver_errors(
        self, run: Run, image_driver: ImageDriver, image_case: ImageCase
    ) -> None:
        c = image_case
        with pytest.raises(DriverError):
            run(image_driver.latest("no-such-image"))
        with pytest.raises(DriverError):
            run(image_driver.build("no-such-image", c.packages))
        before = run(image_driver.image_of(c.instance))
        with pytest.raises(DriverError):
            run(image_driver.replace(c.instance, "no-such-image-version"))
        assert run(image_driver.image_of(c.instance)) == before
