import pytest

from mlplat import errors


def test_each_error_has_its_status_and_exit_code() -> None:
    cases = {
        errors.ValidationError: 422,
        errors.NotFoundError: 404,
        errors.ConflictError: 409,
        errors.AuthenticationError: 401,
        errors.PermissionDenied: 403,
        errors.ServiceUnavailable: 503,
    }
    for cls, status in cases.items():
        exc = cls("something specific", name="x")
        assert isinstance(exc, errors.MlplatError)
        assert exc.http_status == status
        assert exc.exit_code != 0
        assert exc.to_dict() == {"error": cls.code, "message": "something specific", "details": {"name": "x"}}


def test_missing_dependency_names_the_extra() -> None:
    with pytest.raises(errors.MissingDependency) as info:
        errors.require("surely_not_a_module_mlplat", "spark")
    assert info.value.message == "surely_not_a_module_mlplat is not installed: pip install 'mlplat[spark]'"
    assert errors.require("json", "core").dumps([1]) == "[1]"


def test_port_in_use_is_a_stack_error() -> None:
    exc = errors.PortInUse("port 1 busy", port=1, setting="hub_port")
    assert isinstance(exc, errors.StackError)
    assert exc.details == {"port": 1, "setting": "hub_port"}
