// MODELRT_HD: functions shared by kernels and host code (and host tests built without nvcc).
#pragma once

#ifdef __CUDACC__
#define MODELRT_HD __host__ __device__ __forceinline__
#else
#define MODELRT_HD inline
#endif
