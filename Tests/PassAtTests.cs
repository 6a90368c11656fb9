using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The unbiased pass@k estimator (Chen et al. 2021) against hand-worked binomial ratios.</summary>
public class PassAtTests
{
    [TestCase(4, 1, 1, 0.25)]
    [TestCase(4, 1, 2, 0.5)]                 // 1 − C(3,2)/C(4,2) = 1 − 3/6
    [TestCase(4, 1, 4, 1.0)]
    [TestCase(5, 2, 2, 0.7)]                 // 1 − C(3,2)/C(5,2) = 1 − 3/10
    [TestCase(8, 0, 3, 0.0)]
    [TestCase(8, 8, 1, 1.0)]
    public void UnbiasedPassAtK(int n, int c, int k, double expected) =>
        Assert.That(Engine.Tasks.TaskEval.PassAt(n, c, k), Is.EqualTo(expected).Within(1e-12));
}
