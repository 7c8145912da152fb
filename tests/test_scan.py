"""The int8 scan's two kernels (search/scan.py): codes held plus 128 as unsigned bytes, scanned by
SimSIMD for one query vector and by ONNX Runtime's integer product for several, give the exact
integer dot products of the signed codes, so every cosine is the one a signed int8 scan gives."""
import numpy as np
import pytest

from search import scan as scan_module
from search.scan import OFFSET, SharedScan, offset_dots, scan


def _codes(rng, n, d=384):
    codes = rng.integers(-127, 128, size=(n, d), dtype=np.int8)
    codes[0] = 127  # the extremes: the largest products and row sums there are
    codes[1] = -127
    return codes


def _held(codes):
    held = codes.view(np.uint8) ^ np.uint8(OFFSET)
    return held, held.sum(axis=1, dtype=np.int32)


def _signed(codes, queries):
    return codes.astype(np.int64) @ queries.astype(np.int64).T  # (n, k)


@pytest.mark.parametrize("k", [1, 2, 3, 8])
@pytest.mark.parametrize("threads", [1, 2])
def test_offset_codes_give_the_signed_codes_dot_products_exactly(k, threads):
    rng = np.random.default_rng(k)
    codes = _codes(rng, 5000)
    queries = rng.integers(-127, 128, size=(k, 384), dtype=np.int8)
    queries[0, :] = 127
    held, sums = _held(codes)
    expected = _signed(codes, queries).T.astype(np.float32)
    for given in (sums, None):  # one vector without the sums goes to ONNX Runtime as well
        found = offset_dots(held, queries, threads, given)
        assert found.dtype == np.float32 and found.shape == (k, len(codes))
        assert np.array_equal(found, expected)


@pytest.mark.parametrize("k", [1, 3])
def test_without_an_exact_integer_product_simsimd_gives_the_same_numbers(monkeypatch, k):
    """Where ONNX Runtime's product would saturate (x86 without VNNI), SimSIMD scans for any number
    of vectors, with or without the row sums, to the same numbers."""
    rng = np.random.default_rng(10 + k)
    codes = _codes(rng, 3000)
    held, sums = _held(codes)
    queries = rng.integers(-127, 128, size=(k, 384), dtype=np.int8)
    expected = offset_dots(held, queries, 1, None)  # ONNX Runtime here, for every k
    monkeypatch.setattr(scan_module, "_dots_exact", lambda: False)
    for given in (sums, None):
        assert np.array_equal(offset_dots(held, queries, 1, given), expected)
        assert np.array_equal(expected, _signed(codes, queries).T.astype(np.float32))


def test_the_product_is_checked_on_the_largest_products_before_it_is_used(monkeypatch):
    """_dots_exact compares ONNX Runtime's product with numpy's on rows of 255 and 1 against columns
    of 127 and -127: a product that saturated, or failed, is not used."""
    assert scan_module._dots_exact() in (True, False)

    class Saturating:
        def run(self, _, feeds):
            exact = feeds["rows"].astype(np.int64) @ feeds["queries"].astype(np.int64)
            return [np.clip(exact, -32768 * 192, 32767 * 192).astype(np.int32)]  # pairs capped at 16 bits

    class Failing:
        def run(self, *_):
            raise RuntimeError("no kernel")

    for fake in (Saturating(), Failing()):
        scan_module._dots_exact.cache_clear()
        monkeypatch.setattr(scan_module, "_dots", lambda threads, fake=fake: fake)
        assert scan_module._dots_exact() is False
    scan_module._dots_exact.cache_clear()


def test_a_scan_of_offset_codes_equals_the_float_product_of_the_codes_it_holds():
    """scan() codes the query, takes the exact dot products and scales them: the same float32
    numbers for one vector (SimSIMD) and for the same vector among several (ONNX Runtime)."""
    rng = np.random.default_rng(3)
    codes = _codes(rng, 3000)
    held, sums = _held(codes)
    scales = rng.uniform(0.001, 0.01, size=len(codes)).astype(np.float32)
    queries = rng.standard_normal((4, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    together = scan(held, queries, scales, 1, sums)
    for row, qv in zip(together, queries):
        assert np.array_equal(row, scan(held, qv, scales, 1, sums))
        assert np.array_equal(row, scan(held, qv, scales, 2, None))
        step = np.abs(qv).max() / 127
        coded = np.clip(np.rint(qv / step), -127, 127)
        assert np.array_equal(row, (codes.astype(np.float64) @ coded).astype(np.float32) * np.float32(step) * scales)


def test_a_shared_scan_of_offset_codes_equals_the_whole_scan():
    rng = np.random.default_rng(4)
    codes, doc_codes = _codes(rng, 2500), _codes(rng, 300)
    (held, sums), (doc_held, doc_sums) = _held(codes), _held(doc_codes)
    scales, doc_scales = (rng.uniform(0.001, 0.01, size=n).astype(np.float32) for n in (2500, 300))
    plan = SharedScan(held, scales, doc_held, doc_scales, sums, doc_sums)
    vectors = rng.standard_normal((3, 384)).astype(np.float32)
    plan.add("a", vectors[0])
    first = plan.take()  # scanned for the first vector alone (SimSIMD)
    plan.add("b", vectors[1])
    plan.add("c", vectors[2])
    plan.scan(first)
    while (block := plan.take()) is not None:
        plan.scan(block)  # the others for two or three at once (ONNX Runtime)
    for key, qv in zip("abc", vectors):
        assert np.array_equal(plan.found[key][0], scan(held, qv, scales, 1, sums))
        assert np.array_equal(plan.found[key][1], scan(doc_held, qv, doc_scales, 1, doc_sums))


def test_the_serialised_product_is_the_one_node_it_says():
    import onnx  # a build dependency, installed with the tests
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["rows", "queries"], ["dots"])], "offset_dots",
        [helper.make_tensor_value_info("rows", TensorProto.UINT8, ["n", "d"]),
         helper.make_tensor_value_info("queries", TensorProto.INT8, ["d", "k"])],
        [helper.make_tensor_value_info("dots", TensorProto.INT32, ["n", "k"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="kb")
    model.ir_version = 8
    assert model.SerializeToString() == scan_module.DOTS_MODEL
    onnx.checker.check_model(onnx.load_from_string(scan_module.DOTS_MODEL))
