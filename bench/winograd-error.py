# Error of Winograd F(2x2, 3x3) and F(4x4, 3x3) against the float64 direct convolution, in
# float32 (NumPy), for one 64 -> 64 layer on a 16x16 image: why normkit uses F(2x2) only.
# Usage: /usr/bin/python3 bench/winograd-error.py (NumPy: apt-get install -y python3-numpy).
import numpy as np
rng=np.random.default_rng(0)
C,K,H,W=64,64,16,16
x=rng.standard_normal((C,H+2,W+2))  # padded input
w=rng.standard_normal((K,C,3,3))
# direct float64
ref=np.zeros((K,H,W))
for i in range(3):
    for j in range(3):
        ref+=np.einsum('kc,chw->khw',w[:,:,i,j],x[:,i:i+H,j:j+W])
def wino(BT,G,AT,m,dt=np.float32,off=0.0):
    r=3; a=m+r-1
    BT=BT.astype(dt);G=G.astype(dt);AT=AT.astype(dt)
    xx=(x+off).astype(dt); ww=w.astype(dt)
    U=np.einsum('ai,kcij,bj->kcab',G,ww,G)  # (G w G^T)
    out=np.zeros((K,H,W),dt)
    for ty in range(0,H,m):
        for tx in range(0,W,m):
            d=xx[:,ty:ty+a,tx:tx+a]
            V=np.einsum('ai,cij,bj->cab',BT,d,BT)
            M=np.einsum('kcab,cab->kab',U,V)
            Y=np.einsum('ia,kab,jb->kij',AT,M,AT)
            out[:,ty:ty+m,tx:tx+m]=Y
    return out
BT2=np.array([[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]],float)
G2=np.array([[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]])
AT2=np.array([[1,1,1,0],[0,1,-1,-1]],float)
BT4=np.array([[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]],float)
G4=np.array([[1/4,0,0],[-1/6,-1/6,-1/6],[-1/6,1/6,-1/6],[1/24,1/12,1/6],[1/24,-1/12,1/6],[0,0,1]])
AT4=np.array([[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]],float)
d32=np.zeros((K,H,W),np.float32)
xx=x.astype(np.float32);ww=w.astype(np.float32)
for i in range(3):
    for j in range(3):
        d32+=np.einsum('kc,chw->khw',ww[:,:,i,j],xx[:,i:i+H,j:j+W])
s=np.abs(ref).max()
print('relative to the largest output value: direct f32', np.abs(d32-ref).max()/s)
print('F2 f32', np.abs(wino(BT2,G2,AT2,2)-ref).max()/s)
print('F4 f32', np.abs(wino(BT4,G4,AT4,4)-ref).max()/s)
