namespace Engine.Kernels;

/// <summary>
/// How GPU matmuls and attention multiply fp32 numbers (--precision). <c>Fp32</c>: plain fp32 FMAs on CUDA cores
/// (the default: tests and bit-exact resume rely on it). <c>Tf32</c>: inputs rounded to TF32 (10-bit mantissa) on
/// tensor cores with fp32 accumulation, what PyTorch's <c>allow_tf32</c> gives. <c>ThreeXTf32</c>: each input split
/// into a TF32 high part and a TF32 remainder, three tensor-core products (hi·hi + hi·lo + lo·hi), fp32-class accuracy.
/// The CPU backend always computes in fp32.
/// </summary>
public enum Precision { Fp32, Tf32, ThreeXTf32 }

public static class PrecisionNames
{
    public static readonly string[] All = ["fp32", "tf32", "3xtf32"];

    public static Precision Parse(string name) => name.ToLowerInvariant() switch
    {
        "fp32" => Precision.Fp32,
        "tf32" => Precision.Tf32,
        "3xtf32" => Precision.ThreeXTf32,
        _ => throw new ArgumentException($"--precision {name}: expected one of {string.Join(", ", All)}"),
    };

    public static string Name(this Precision p) => All[(int)p];
}
