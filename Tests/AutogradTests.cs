using Engine.Autograd;
using Engine.Kernels;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

public class AutogradTests
{
    [Test]
    public void TensorUsedTwiceGetsBothGradients()
    {
        // y = Σ x⊙x + 3·Σx  →  dy/dx = 2x + 3
        var x = Tensor.Parameter(Cpu, [1f, -2f, 0.5f], 3);
        var y = Ops.Add(Ops.Sum(Ops.Mul(x, x)), Ops.Scale(Ops.Sum(x), 3f));
        y.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 5f, -1f, 4f }).Within(1e-6f));
    }

    [Test]
    public void LeafGradientsAccumulateAcrossBackwardCallsUntilZeroed()
    {
        var x = Tensor.Parameter(Cpu, [2f], 1);
        Ops.Scale(x, 4f).Backward();
        Ops.Scale(x, 4f).Backward();
        Assert.That(x.Grad!.Item(), Is.EqualTo(8f));
        x.ZeroGrad();
        Ops.Scale(x, 4f).Backward();
        Assert.That(x.Grad!.Item(), Is.EqualTo(4f));
    }

    [Test]
    public void DiamondGraphRunsEachBackwardOnce()
    {
        // a → b = 2a; c = b + b; d = Σ c·b  = Σ 2b² = 8Σa²  →  dd/da = 16a
        var a = Tensor.Parameter(Cpu, [1f, 3f], 2);
        var b = Ops.Scale(a, 2f);
        var c = Ops.Add(b, b);
        var d = Ops.Sum(Ops.Mul(c, b));
        d.Backward();
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 16f, 48f }).Within(1e-5f));
    }

    [Test]
    public void NoGradScopeRecordsNothing()
    {
        var x = Tensor.Parameter(Cpu, [1f, 2f], 2);
        Tensor y;
        using (GradMode.Disable()) y = Ops.Sum(Ops.Mul(x, x));
        Assert.That(y.RequiresGrad, Is.False);
        Assert.That(y.Item(), Is.EqualTo(5f));
        Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.That(GradMode.Enabled, Is.True);
        Assert.That(Ops.Sum(x).RequiresGrad, Is.True);
    }

    [Test]
    public void ConstantsNeedNoGradient()
    {
        var w = Tensor.Parameter(Cpu, [1f, 2f], 2);
        var c = Tensor.FromArray(Cpu, [3f, 4f], 2);
        Ops.Sum(Ops.Mul(w, c)).Backward();
        Assert.That(c.Grad, Is.Null);
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 3f, 4f }));
    }

    [Test]
    public void DeepChainDoesNotOverflowTheStack()
    {
        var x = Tensor.Parameter(Cpu, [1f], 1);
        var y = x;
        for (int i = 0; i < 20000; i++) y = Ops.Scale(y, 1f);
        y.Backward();
        Assert.That(x.Grad!.Item(), Is.EqualTo(1f));
    }

    [Test]
    public void NonScalarBackwardNeedsAGradient()
    {
        var x = Tensor.Parameter(Cpu, [1f, 2f], 2);
        var y = Ops.Scale(x, 2f);
        var ex = Assert.Throws<ShapeException>(() => y.Backward());
        Assert.That(ex!.Message, Does.Contain("backward").And.Contain("[2]"));
        y.Backward(Tensor.FromArray(Cpu, [1f, 10f], 2));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2f, 20f }));
    }
}
