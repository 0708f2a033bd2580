#!/usr/bin/env python3
"""Which Gaussians of a trained model reach a camera: those whose 3-sigma extent contains the
camera centre (opacity over 0.05), nearest first. Standard library only (no numpy).

    python3 benches/camera_inside_gaussians.py WORKSPACE IMAGE_NAME

WORKSPACE holds sparse/0/images.bin and point_cloud.ply (a `splat run` folder)."""
import sys
import struct, math
def read_images(p):
    b=open(p,'rb').read(); n=struct.unpack('<Q',b[:8])[0]; o=8; out={}
    for _ in range(n):
        iid,qw,qx,qy,qz,tx,ty,tz,cid=struct.unpack('<idddddddi',b[o:o+64]); o+=64
        e=b.index(b'\0',o); name=b[o:e].decode(); o=e+1
        n2=struct.unpack('<Q',b[o:o+8])[0]; o+=8+n2*24
        R=[[1-2*(qy*qy+qz*qz),2*(qx*qy-qw*qz),2*(qx*qz+qw*qy)],[2*(qx*qy+qw*qz),1-2*(qx*qx+qz*qz),2*(qy*qz-qw*qx)],[2*(qx*qz-qw*qy),2*(qy*qz+qw*qx),1-2*(qx*qx+qy*qy)]]
        C=[-sum(R[r][c]*[tx,ty,tz][r] for r in range(3)) for c in range(3)]
        out[name]=(R,[tx,ty,tz],C)
    return out
ws, name = sys.argv[1], sys.argv[2]
ims=read_images(ws + '/sparse/0/images.bin')
R,t,C=ims[name]
f=open(ws + '/point_cloud.ply','rb'); hdr=b''
while not hdr.endswith(b'end_header\n'): hdr+=f.readline()
props=[l.split()[-1].decode() for l in hdr.split(b'\n') if l.startswith(b'property')]
n=int([l for l in hdr.split(b'\n') if l.startswith(b'element vertex')][0].split()[-1])
ix={p:i for i,p in enumerate(props)}; k=len(props)
data=f.read(); fmt='<%df'%k; sz=4*k
close=[]
for i in range(n):
    v=struct.unpack_from(fmt,data,i*sz)
    x,y,z=v[ix['x']],v[ix['y']],v[ix['z']]
    d=[x-C[0],y-C[1],z-C[2]]
    zc=sum(R[2][c]*d[c] for c in range(3))
    dist=math.sqrt(sum(q*q for q in d))
    s=max(math.exp(v[ix['scale_0']]),math.exp(v[ix['scale_1']]),math.exp(v[ix['scale_2']]))
    op=1/(1+math.exp(-v[ix['opacity']]))
    if dist<3*s and op>0.05: close.append((dist,s,op,zc,i))
close.sort()
print('camera centre',C,'Gaussians whose 3-sigma reach the camera (opacity>0.05):',len(close))
for c in close[:10]: print('dist %.3f maxscale %.3f opacity %.2f depth %.3f idx %d'%c)
