using Engine.Autograd;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

/// <summary>Every primitive's backward against central differences, on random inputs with odd sizes.</summary>
public class GradientTests
{
    [TestCase(false, false)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    [TestCase(true, true)]
    public void MatMul(bool transA, bool transB)
    {
        var rng = new Random(1);
        int m = 7, k = 13, n = 5;
        var a = transA ? Param(rng, k, m) : Param(rng, m, k);
        var b = transB ? Param(rng, n, k) : Param(rng, k, n);
        Check($"matmul tA={transA} tB={transB}", () => Ops.MatMul(a, b, transA, transB), [a, b]);
    }

    [Test]
    public void Linear()
    {
        var rng = new Random(2);
        var x = Param(rng, 3, 5, 17);
        var w = Param(rng, 11, 17);
        var b = Param(rng, 11);
        Check("linear", () => Ops.Linear(x, w, b), [x, w, b]);
    }

    [Test]
    public void AddMulScaleBias()
    {
        var rng = new Random(3);
        var a = Param(rng, 7, 13);
        var b = Param(rng, 7, 13);
        var bias = Param(rng, 13);
        Check("add", () => Ops.Add(a, b), [a, b]);
        Check("mul", () => Ops.Mul(a, b), [a, b]);
        Check("scale", () => Ops.Scale(a, -1.7f), [a]);
        Check("bias_add", () => Ops.AddBias(a, bias), [a, bias]);
    }

    [Test]
    public void Activations()
    {
        var rng = new Random(4);
        var x = Tensor.Parameter(Cpu, Rand(rng, 3 * 5 * 17, 3f), 3, 5, 17);
        var up = Param(rng, 3, 5, 17);
        Check("gelu", () => Ops.Gelu(x), [x], eps: 1e-3);
        Check("silu", () => Ops.Silu(x), [x], eps: 1e-3);
        Check("swiglu", () => Ops.SwiGlu(x, up), [x, up], eps: 1e-3);
    }

    [Test]
    public void Norms()
    {
        var rng = new Random(5);
        var x = Tensor.Parameter(Cpu, Rand(rng, 7 * 13, 2f), 7, 13);
        var w = Param(rng, 13);
        var b = Param(rng, 13);
        Check("layernorm", () => Ops.LayerNorm(x, w, b), [x, w, b], eps: 1e-3);
        Check("rmsnorm", () => Ops.RmsNorm(x, w), [x, w], eps: 1e-3);
    }

    [Test]
    public void Softmax()
    {
        var rng = new Random(6);
        var x = Tensor.Parameter(Cpu, Rand(rng, 3 * 5 * 17, 3f), 3, 5, 17);
        Check("softmax", () => Ops.Softmax(x), [x], eps: 1e-3);
    }

    [TestCase(4, 4, 1)]   // multi-head
    [TestCase(4, 2, 7)]   // grouped-query: two query heads per kv head
    [TestCase(3, 1, 5)]   // multi-query
    public void Attention(int qHeads, int kvHeads, int steps)
    {
        var rng = new Random(7);
        int B = 2, D = 6;
        // With T = 1 the softmax has one entry, so q and k get exactly zero gradient: check v alone there.
        var q = steps == 1 ? Const(rng, B, steps, qHeads * D) : Param(rng, B, steps, qHeads * D);
        var k = steps == 1 ? Const(rng, B, steps, kvHeads * D) : Param(rng, B, steps, kvHeads * D);
        var v = Param(rng, B, steps, kvHeads * D);
        if (steps == 1 && qHeads == kvHeads)
            Assert.That(Ops.Attention(q, k, v, qHeads, kvHeads).ToArray(), Is.EqualTo(v.ToArray()).Within(1e-6f), "one step attends only to itself");
        Check($"attention Hq={qHeads} Hkv={kvHeads} T={steps}", () => Ops.Attention(q, k, v, qHeads, kvHeads), [q, k, v], eps: 1e-3);
    }

    [Test]
    public void Rope()
    {
        var rng = new Random(8);
        var x = Param(rng, 3, 5, 2 * 6);
        Check("rope", () => Ops.Rope(x, heads: 2, theta: 10000f, positions: Ops.SequencePositions(3, 5, offset: 3)), [x]);
    }

    [Test]
    public void Embedding()
    {
        var rng = new Random(9);
        var table = Param(rng, 11, 7);
        int[] ids = [3, 0, 10, 3, 5, 3, 9];   // repeats: the scatter-add must sum them
        Check("embedding", () => Ops.Embedding(table, ids, 7), [table]);
    }

    [Test]
    public void CrossEntropyWithIgnoreMask()
    {
        var rng = new Random(10);
        var logits = Tensor.Parameter(Cpu, Rand(rng, 7 * 13, 3f), 7, 13);
        int[] targets = [1, -1, 12, 0, -1, 5, 5];
        Check("cross_entropy", () => Ops.CrossEntropy(logits, targets), [logits], eps: 1e-3);
    }

    [Test]
    public void SumMeanReshape()
    {
        var rng = new Random(11);
        var x = Param(rng, 3, 5, 17);
        Check("sum", () => Ops.Sum(x), [x]);
        Check("mean", () => Ops.Mean(x), [x]);
        Check("reshape", () => Ops.Reshape(x, 15, -1), [x]);
    }
}
