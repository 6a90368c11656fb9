using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels.Gpu;

/// <summary>
/// One warp's tensor-core operations as a type parameter, so a kernel body is written once and compiled with the
/// form that suits the target: <see cref="MmaEmitRef"/> (the first tensor-core kernels' path, which passes MMA
/// operands through EmitRef and so through local memory) or <see cref="MmaSoft"/> (the software twin alone, for the
/// twin branch of a register-form kernel). Both compute the same values on the CPU accelerator. There is no
/// per-MMA register form: getting D back into an ILGPU value takes an <c>out</c> operand, and ILGPU puts every
/// <c>out</c> target in a local-memory slot (at O1 ptxas keeps part of them); the register-form kernels keep their
/// accumulators in PTX-declared registers instead (GemmRegsPtx, FlashRegsPtx).
/// </summary>
public interface IMmaUnit
{
    /// <summary>tf32(x) by cvt.rna (<see cref="TensorCore.RoundTf32"/>).</summary>
    float Round(float x);

    /// <summary>c + a·b for one m16n8k8 tile (<see cref="TensorCore.Mma"/>).</summary>
    FragC Mma(FragA a, FragB b, FragC c);

    /// <summary>c + alo·bhi + ahi·blo + ahi·bhi, in that order (<see cref="TensorCore.Mma3"/>).</summary>
    FragC Mma3(FragA ahi, FragA alo, FragB bhi, FragB blo, FragC c);
}

/// <summary>TensorCore's own calls: EmitRef on CUDA (its out/ref operands go through local memory), the twin
/// elsewhere. Attention v3/v4 run on it, unchanged.</summary>
public struct MmaEmitRef : IMmaUnit
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Round(float x) => TensorCore.RoundTf32(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FragC Mma(FragA a, FragB b, FragC c)
    {
        TensorCore.Mma(a, b, ref c);
        return c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FragC Mma3(FragA ahi, FragA alo, FragB bhi, FragB blo, FragC c)
    {
        TensorCore.Mma3(ahi, alo, bhi, blo, ref c);
        return c;
    }
}

/// <summary>The software twin alone (no PTX in it): for the branch of a register-form kernel that runs where
/// <c>CudaAsm.IsSupported</c> is false. ILGPU keeps that branch in the PTX too, so it must not reach EmitRef.</summary>
public struct MmaSoft : IMmaUnit
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Round(float x) => TensorCore.RoundTf32Soft(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FragC Mma(FragA a, FragB b, FragC c)
    {
        TensorCore.MmaSoft(a, b, ref c);
        return c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FragC Mma3(FragA ahi, FragA alo, FragB bhi, FragB blo, FragC c)
    {
        TensorCore.Mma3Soft(ahi, alo, bhi, blo, ref c);
        return c;
    }
}
