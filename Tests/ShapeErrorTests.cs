using Engine.Autograd;
using Engine.Kernels;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

/// <summary>A bad call names the op, what it expected and what it got.</summary>
public class ShapeErrorTests
{
    static void Expect(TestDelegate call, params string[] fragments) => Expect<ShapeException>(call, fragments);

    static void Expect<TException>(TestDelegate call, params string[] fragments) where TException : Exception
    {
        var ex = Assert.Throws<TException>(call);
        foreach (var f in fragments) Assert.That(ex!.Message, Does.Contain(f), ex.Message);
    }

    [Test]
    public void TensorOps()
    {
        var rng = new Random(1);
        Expect(() => Ops.MatMul(Const(rng, 3, 4), Const(rng, 5, 2)), "matmul", "[4, N]", "[5, 2]");
        Expect(() => Ops.Linear(Const(rng, 2, 3), Const(rng, 4, 5)), "linear", "[..., 5]", "[2, 3]");
        Expect(() => Ops.Add(Const(rng, 2, 3), Const(rng, 3, 2)), "add", "[2, 3]", "[3, 2]");
        Expect(() => Ops.LayerNorm(Const(rng, 2, 3), Const(rng, 4), Const(rng, 3)), "layernorm", "weight", "[3]", "[4]");
        Expect(() => Ops.Attention(Const(rng, 1, 2, 8), Const(rng, 1, 2, 6), Const(rng, 1, 2, 4), 2, 1), "attention",
            "k", "[1, 2, 4]", "[1, 2, 6]");
        Expect(() => Ops.Attention(Const(rng, 1, 2, 6), Const(rng, 1, 2, 6), Const(rng, 1, 2, 6), 3, 2), "attention", "multiple");
        Expect(() => Ops.Rope(Const(rng, 1, 2, 6), heads: 2), "rope", "even", "3");
        Expect(() => Ops.Embedding(Const(rng, 5, 3), [1, 5]), "embedding", "[0, 5)", "5");
        Expect(() => Ops.CrossEntropy(Const(rng, 3, 4), [0, 1]), "cross_entropy", "3 targets", "2 targets");
        Expect(() => Ops.CrossEntropy(Const(rng, 2, 4), [0, 4]), "cross_entropy", "[0, 4)", "4");
        Expect(() => Ops.Reshape(Const(rng, 2, 3), 4, 2), "reshape", "6 elements", "[4, 2]");
    }

    [Test]
    public void BackendPrimitives()
    {
        var be = Cpu;
        Expect(() => be.MatMul(be.Allocate(6), be.Allocate(6), be.Allocate(4), 2, 2, 4, false, false), "matmul", "a",
            "[2, 4] = 8", "6 elements");
        Expect(() => be.Softmax(be.Allocate(6), be.Allocate(5), 2, 3), "softmax", "out", "[2, 3]", "5 elements");
        Expect<OpArgumentException>(() => be.AdamW(be.Allocate(3), be.Allocate(3), be.Allocate(3), be.Allocate(3), 1e-3f, 0.9f,
            0.999f, 1e-8f, 0f, 0), "adamw", "step", "0");
        Expect<OpArgumentException>(() => be.Entropy(be.Allocate(6), be.Allocate(2), 2, 3, 0f), "entropy", "temperature");
        Expect<OpArgumentException>(() => be.Add(new CpuBackend().Allocate(2), be.Allocate(2), be.Allocate(2)), "add",
            "a buffer of this cpu backend");
        Expect(() => be.BiasAdd(be.Allocate(6), be.Allocate(2), be.Allocate(6), 2, 3), "bias_add", "bias", "[3]");
    }
}
