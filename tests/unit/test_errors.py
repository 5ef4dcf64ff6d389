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


def _all_errors() -> list[type[errors.MlplatError]]:
    found, stack = [], [errors.MlplatError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def test_every_error_crosses_the_wire_as_itself() -> None:
    codes = [cls.code for cls in _all_errors()]
    assert len(codes) == len(set(codes)), "two errors share a code: the client could not tell them apart"
    for cls in _all_errors():
        sent = errors.MissingDependency("pyspark", "spark") if cls is errors.MissingDependency else cls(
            "something specific", field="x")
        got = errors.from_wire(sent.http_status, sent.to_dict())
        assert type(got) is cls and got.message == sent.message and got.details == sent.details


def test_an_answer_without_the_platforms_body_falls_back_to_its_status() -> None:
    assert type(errors.from_wire(404, None, "<html>not here</html>")) is errors.NotFoundError
    assert errors.from_wire(502, {"detail": "bad gateway"}).message == "bad gateway"
    assert type(errors.from_wire(502, {})) is errors.MlplatError
    # a code this client does not know yet: the status decides
    assert type(errors.from_wire(409, {"error": "from_the_future", "message": "m"})) is errors.ConflictError
