"""The lessons' registry: the lesson functions, by name, batch sizes first."""

from __future__ import annotations

from pipeline.lessons import catalogue, gradients, optimization


def test_the_registry_is_the_lesson_functions_batch_sizes_first():
    assert list(catalogue.LESSONS)[0] == "batch_size"  # its peak memory: a fresh process
    for name, lesson in catalogue.LESSONS.items():
        assert lesson.__name__ == name
        assert lesson.__doc__
    # every lesson of the two modules is registered, and nothing else
    lessons = {
        f.__name__
        for module in (gradients, optimization)
        for f in vars(module).values()
        if callable(f)
        and getattr(f, "__module__", "") == module.__name__
        and f.__annotations__.get("return") == "list[Row]"
        and list(f.__annotations__)[:1] == ["run"]
    }
    assert lessons == set(catalogue.LESSONS)
