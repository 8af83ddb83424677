/* Experiment (issue 22, docs/decisions.md "The DIR step's products stay OpenBLAS's"): the
   forward product Y = X·Wᵀ (n × k by m × k) read as dot products of rows, IB rows of X by JB
   rows of W per register tile, without packing W, against OpenBLAS's sgemm at the same shape;
   two threads each, best of `reps`.
     clang -O2 -mavx2 -mfma -DIB=3 -DJB=4 nt_product.c -lopenblas -lpthread -lm -o nt_product
     OPENBLAS_NUM_THREADS=2 ./nt_product 64 4096 1024 20           (n, k, m, reps) */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <cblas.h>
#pragma clang fp contract(off)
typedef float f8 __attribute__((vector_size(32)));
#define INLINE static inline __attribute__((always_inline))
INLINE f8 ld(const float *p){f8 v; memcpy(&v,p,32); return v;}
INLINE float hsum(f8 a){return ((a[0]+a[1])+(a[2]+a[3]))+((a[4]+a[5])+(a[6]+a[7]));}
#ifndef IB
#define IB 3
#endif
#ifndef JB
#define JB 4
#endif
/* Y (n x m) += X (n x k) . W(m x k)^T for rows j0..j1 of W; k multiple of 8 */
static void nt(const float*x,const float*w,float*y,long n,long m,long k,long j0,long j1){
  long kc = 65536 / n; kc &= ~7L; if (kc < 64) kc = 64; if (kc > k) kc = k;
  for(long c0=0;c0<k;c0+=kc){ long c1=c0+kc<k?c0+kc:k;
    for(long j=j0;j+JB<=j1;j+=JB){
      for(long i=0;i+IB<=n;i+=IB){
        f8 a[IB][JB];
#pragma clang loop unroll(full)
        for(int u=0;u<IB;u++)
#pragma clang loop unroll(full)
          for(int v=0;v<JB;v++) a[u][v]=(f8){0};
        for(long c=c0;c<c1;c+=8){
          f8 xv[IB], wv[JB];
#pragma clang loop unroll(full)
          for(int u=0;u<IB;u++) xv[u]=ld(x+(i+u)*k+c);
#pragma clang loop unroll(full)
          for(int v=0;v<JB;v++) wv[v]=ld(w+(j+v)*k+c);
#pragma clang loop unroll(full)
          for(int u=0;u<IB;u++)
#pragma clang loop unroll(full)
            for(int v=0;v<JB;v++) a[u][v]=__builtin_elementwise_fma(xv[u],wv[v],a[u][v]);
        }
        for(int u=0;u<IB;u++) for(int v=0;v<JB;v++) y[(i+u)*m+j+v]+=hsum(a[u][v]);
      }
    }
  }
}
typedef struct{const float*x,*w;float*y;long n,m,k,j0,j1;}job;
static void*run(void*a){job*j=a;nt(j->x,j->w,j->y,j->n,j->m,j->k,j->j0,j->j1);return 0;}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  long n=atol(argv[1]),k=atol(argv[2]),m=atol(argv[3]);int reps=atoi(argv[4]);
  float*x=malloc(4*n*k),*w=malloc(4*m*k),*y=calloc(n*m,4),*y2=calloc(n*m,4);
  srand(1);for(long i=0;i<n*k;i++)x[i]=rand()/(float)RAND_MAX-0.5f;for(long i=0;i<m*k;i++)w[i]=rand()/(float)RAND_MAX-0.5f;
  double tb=1e9,tm=1e9;
  for(int r=0;r<reps;r++){
    double t0=now(); cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,n,m,k,1.0f,x,k,w,k,0.0f,y,m); double t1=now(); if(t1-t0<tb)tb=t1-t0;
    memset(y2,0,4*n*m);
    t0=now(); pthread_t th[2]; job js[2];
    long half=(m/2/JB)*JB;
    js[0]=(job){x,w,y2,n,m,k,0,half}; js[1]=(job){x,w,y2,n,m,k,half,m};
    for(int t=0;t<2;t++)pthread_create(&th[t],0,run,&js[t]); for(int t=0;t<2;t++)pthread_join(th[t],0);
    t1=now(); if(t1-t0<tm)tm=t1-t0;
  }
  double md=0; for(long i=0;i<(n/IB)*IB;i++)for(long j=0;j<m;j++){double d=fabs(y[i*m+j]-y2[i*m+j]);if(d>md)md=d;}
  double fl=2.0*n*m*k;
  printf("IB %d JB %d: openblas %.2f ms (%.0f GF/s), mine %.2f ms (%.0f GF/s), maxdiff %.2e\n",IB,JB,tb*1e3,fl/tb*1e-9,tm*1e3,fl/tm*1e-9,md);
}
